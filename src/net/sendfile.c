/* Sending a file's bytes to a socket without copying them through user
 * memory: io_uring splices file -> pipe -> socket (two IORING_OP_SPLICEs
 * per chunk, through a pipe the worker keeps); the readiness backends call
 * sendfile(2), waiting for room in the socket between tries. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "coil/net.h"
#include "io/backend.h"
#include "io/io.h"
#include "io/op.h"
#include "sched/waitq.h"

/* A pipe of the worker's, or a new one (bigger than the default 64 KiB
 * where the system lets it: fewer splices per file). */
static int pipe_take(struct coil__io *io, int p[2])
{
	if (io->npipes) {
		io->npipes--;
		p[0] = io->pipes[io->npipes][0];
		p[1] = io->pipes[io->npipes][1];
		return 0;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	return 0;
}

/* Keep an empty pipe for the next call; one still holding bytes (the
 * socket failed mid-chunk, or the call was cancelled) is closed. */
static void pipe_give(struct coil__io *io, int p[2], bool empty)
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

static int splice_op(int in, int64_t off_in, int out, size_t len)
{
	struct coil__op op;
	coil__op_init(&op, COIL__OP_SPLICE, in, 0, off_in);
	op.u.splice.fd_out = out;
	op.u.splice.len = len;
	return coil__op_run(&op);
}

static ssize_t send_spliced(struct coil__io *io, int sock, int file, int64_t off, size_t len)
{
	int p[2];
	int r = pipe_take(io, p);
	if (r < 0)
		return r;
	size_t sent = 0;
	bool empty = true;
	while (sent < len) {
		size_t chunk = len - sent < (1u << 20) ? len - sent : (1u << 20);
		int in = splice_op(file, off + (int64_t)sent, p[1], chunk);
		if (in <= 0) {
			r = in; /* 0: end of the file */
			break;
		}
		empty = false;
		for (int moved = 0; moved < in;) {
			int n = splice_op(p[0], -1, sock, (size_t)(in - moved));
			if (n == -EAGAIN) {
				/* A non-blocking socket with no room: the
				 * splice does not wait, a poll does. */
				struct coil__op op;
				coil__op_init(&op, COIL__OP_POLL_OUT, sock, 0, -1);
				if ((n = coil__op_run(&op)) >= 0)
					continue;
			}
			if (n <= 0) {
				r = n < 0 ? n : -EIO;
				goto out;
			}
			moved += n;
			sent += (size_t)n;
		}
		empty = true;
	}
out:
	pipe_give(io, p, empty);
	/* What went out counts: an error after some bytes is seen by the next
	 * call. */
	return sent > 0 ? (ssize_t)sent : r;
}

ssize_t coil_sock_sendfile(int sock, int file, int64_t off, size_t len)
{
	if (sock < 0 || file < 0)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	struct coil__io *io = coil__tls_io;
	if (!io || !coil__self())
		return -EPERM;
	if (len == 0)
		return coil__checkpoint();
	if (len > COIL__IO_MAX)
		len = COIL__IO_MAX;
	if (io->can_splice)
		return send_spliced(io, sock, file, off, len);
	struct coil__op op;
	coil__op_init(&op, COIL__OP_SENDFILE, sock, 0, off);
	op.u.sendfile.fd_in = file;
	op.u.sendfile.len = len;
	return coil__op_run(&op);
}
