/*
 * Closing: every fd coil knows is closed here, by coil_close or by coil
 * itself (a failed connect's socket, a race's losing accept). The close is
 * an op, so the backend sees it: the readiness backends fail the fd's
 * waiting ops with -EBADF and drop its registration, io_uring cancels the
 * ops still in flight on it (they complete with -EBADF too) before the
 * close. Nothing of a closed fd carries over to a new fd of that number.
 */
#include <errno.h>
#include <unistd.h>

#include "coil/fs.h"
#include "coil/scope.h"
#include "io/backend.h"
#include "io/fixed.h"
#include "io/op.h"
#include "sched/sched.h"

int coil__fd_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	/* A ring's registered slot of fd must not outlive it (io/fixed.h). */
	coil__fixed_closing(fd);
	int r;
	if (!coil__self()) {
		/* Outside a runtime: a plain close (it does not block on
		 * sockets, pipes or files without SO_LINGER). */
		r = close(fd) == 0 ? 0 : -errno;
	} else {
		/* Closing is clean-up: it runs shielded, so a cancelled task
		 * or a passed deadline cannot skip it. */
		coil_scope shield;
		coil_scope_enter_shielded(&shield, COIL_NO_DEADLINE);
		struct coil__op op = {.code = COIL__OP_CLOSE, .fd = fd};
		r = coil__op_run(&op);
		coil_scope_exit(&shield);
	}
	coil__fixed_closed(fd);
	return r;
}

int coil_close(int fd)
{
	return coil__fd_close(fd);
}
