/* Sending a file's bytes to a socket without copying them through user
 * memory: io_uring splices file -> pipe -> socket (two IORING_OP_SPLICEs
 * per chunk, through a pipe the worker keeps: net/pipes.h); the readiness backends call
 * sendfile(2), waiting for room in the socket between tries. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "coil/net.h"
#include "io/backend.h"
#include "io/io.h"
#include "io/op.h"
#include "net/pipes.h"
#include "sched/waitq.h"

static ssize_t send_spliced(struct coil__io *io, int sock, int file, int64_t off, size_t len)
{
	int p[2];
	int r = coil__pipe_take(io, p);
	if (r < 0)
		return r;
	size_t sent = 0;
	bool empty = true;
	while (sent < len) {
		size_t chunk = len - sent < COIL__PIPE_CHUNK ? len - sent : COIL__PIPE_CHUNK;
		int in = coil__splice_once(file, off + (int64_t)sent, p[1], chunk);
		if (in <= 0) {
			r = in; /* 0: end of the file */
			break;
		}
		int out;
		r = coil__pipe_drain(p[0], sock, in, &out);
		sent += (size_t)out;
		if (r < 0) {
			empty = false;
			break;
		}
	}
	coil__pipe_give(io, p, empty);
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
