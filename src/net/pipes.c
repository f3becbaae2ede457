/* The worker's pipes for splicing (pipes.h). */
#include "net/pipes.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "io/backend.h"
#include "io/io.h"
#include "io/op.h"

int coil__pipe_take(struct coil__io *io, int p[2])
{
	if (io->npipes) {
		io->npipes--;
		p[0] = io->pipes[io->npipes][0];
		p[1] = io->pipes[io->npipes][1];
		return 0;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	(void)fcntl(p[1], F_SETPIPE_SZ, (int)COIL__PIPE_CHUNK);
	return 0;
}

void coil__pipe_give(struct coil__io *io, int p[2], bool empty)
{
	if (empty && io->npipes < sizeof io->pipes / sizeof io->pipes[0]) {
		io->pipes[io->npipes][0] = p[0];
		io->pipes[io->npipes][1] = p[1];
		io->npipes++;
		return;
	}
	coil__fd_close(p[0]);
	coil__fd_close(p[1]);
}

int coil__splice_once(int in, int64_t off_in, int out, size_t len)
{
	struct coil__op op;
	coil__op_init(&op, COIL__OP_SPLICE, in, 0, off_in);
	op.u.splice.fd_out = out;
	op.u.splice.len = len;
	return coil__op_run(&op);
}

int coil__pipe_drain(int rd, int sock, int n, int *moved)
{
	for (*moved = 0; *moved < n;) {
		int k = coil__splice_once(rd, -1, sock, (size_t)(n - *moved));
		if (k == -EAGAIN) {
			/* No room in the socket: the splice does not wait,
			 * a poll for room does. */
			struct coil__op op;
			coil__op_init(&op, COIL__OP_POLL_OUT, sock, 0, -1);
			if ((k = coil__op_run(&op)) >= 0)
				continue;
		}
		if (k <= 0)
			return k < 0 ? k : -EIO;
		*moved += k;
	}
	return 0;
}
