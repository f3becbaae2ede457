/* Moving bytes from one stream socket to another without copying them
 * through user memory: socket -> pipe -> socket, through a pipe the worker
 * keeps (net/pipes.h). A splice never waits (the fds are non-blocking): a
 * one-byte MSG_PEEK receive waits for the input, a poll for room waits for
 * the output. */
#include <errno.h>
#include <sys/socket.h>

#include "coil/net.h"
#include "io/io.h"
#include "io/op.h"
#include "net/pipes.h"
#include "sched/scope.h"
#include "sched/waitq.h"

/* Wait until from has a byte to read or has ended: 1, 0 (its end) or
 * -errno. Takes nothing from it. */
static int wait_input(int from)
{
	char c;
	struct coil__op op;
	coil__op_init(&op, COIL__OP_RECV, from, MSG_PEEK, -1);
	op.u.rw.buf = &c;
	op.u.rw.len = 1;
	return coil__op_run(&op);
}

ssize_t coil_sock_splice(int to, int from, size_t len)
{
	if (to < 0 || from < 0)
		return -EBADF;
	struct coil__io *io = coil__tls_io;
	if (!io || !coil__self())
		return -EPERM;
	if (len == 0)
		return coil__checkpoint();
	if (len > COIL__PIPE_CHUNK)
		len = COIL__PIPE_CHUNK;
	int p[2];
	int r = coil__pipe_take(io, p);
	if (r < 0)
		return r;
	int in;
	do {
		if ((in = wait_input(from)) <= 0)
			break;
		/* There are bytes: take them whatever the caller's scopes say
		 * meanwhile, so that a cancel never leaves some taken from
		 * from and not delivered (the splice does not wait). */
		struct coil__scope shield;
		coil__shield_enter(&shield);
		in = coil__splice_once(from, -1, p[1], len);
		coil__shield_exit(&shield);
	} while (in == -EAGAIN); /* another reader of from was first */
	if (in <= 0) {
		coil__pipe_give(io, p, true);
		return in;
	}
	int out;
	r = coil__pipe_drain(p[0], to, in, &out);
	coil__pipe_give(io, p, r == 0);
	return r < 0 ? r : in;
}
