/* Sending a file's bytes to a socket without copying them through user
 * memory. On io_uring, a range whose pages are all in the page cache goes
 * out by sendfile(2) called on the worker (the socket is non-blocking: it
 * never waits, and a full socket waits as a poll on the ring); any other
 * range is spliced file -> pipe -> socket (two IORING_OP_SPLICEs per chunk,
 * through a pipe the worker keeps: net/pipes.h), because the kernel runs
 * every IORING_OP_SPLICE on an io-wq thread, a round trip per splice that
 * costs more than the sendfile(2) it stands for. The readiness backends
 * call sendfile(2), waiting for room in the socket between tries. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#endif

#include "coil/net.h"
#include "coil/task.h"
#include "io/backend.h"
#include "io/io.h"
#include "io/offsets.h"
#include "io/op.h"
#include "net/pipes.h"
#include "sched/waitq.h"

#ifdef __linux__ /* io_uring, the only backend that splices, is Linux's */
/* cachestat(2) (Linux 6.5): how many of a range's pages are in the page
 * cache, without reading any. Debian 12's headers predate it; the number
 * is 451 on every architecture. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct coil__cachestat_range {
	uint64_t off, len;
};
struct coil__cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* Whether every page of [off, off + len) of file is in the page cache, so
 * that sendfile(2) reads it without waiting for a disk. False when it
 * cannot say (no cachestat, a file system without a page cache; a range
 * past the end of the file: the caller asks again up to the end). A page that
 * a read-ahead is filling at this moment counts as cached: sendfile then
 * waits for that one read, as an nginx worker would. */
static bool range_cached(int file, int64_t off, size_t len)
{
	static _Thread_local int64_t page;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	struct coil__cachestat_range r = {(uint64_t)off, len};
	struct coil__cachestat st;
	if (syscall(__NR_cachestat, (unsigned)file, &r, &st, 0u) < 0)
		return false;
	uint64_t pages = (uint64_t)((off + (int64_t)len - 1) / page - off / page + 1);
	return st.nr_cache >= pages;
}

/* sendfile(2) on the worker while the range stays cached, a poll on the
 * ring whenever the socket is full. Bytes leave the file straight for the
 * socket, so a cancel or a deadline in the poll loses nothing: *sent
 * counts what went out. Returns 0 when done (all len, or the end of the
 * file), 1 when the rest is not cached or sendfile(2) refuses the fds (the
 * caller splices the rest), or -errno. */
static int send_cached(int sock, int file, int64_t off, size_t len, size_t *sent)
{
	bool check = true;
	size_t since_turn = 0;
	for (*sent = 0; *sent < len;) {
		if (since_turn >= COIL__PIPE_CHUNK) {
			/* A reader that keeps up never makes this wait: let
			 * the worker's other fibers run between chunks, as
			 * the ops of the splice path would. */
			(void)coil_task_yield();
			since_turn = 0;
			check = true;
		}
		int64_t at = off + (int64_t)*sent;
		if (check && !range_cached(file, at, len - *sent)) {
			/* Past the end of the file no page is cached: ask
			 * again up to the end (a file shorter than asked).
			 * At or past the end, sendfile(2) reads nothing and
			 * says 0, or what it refuses the fds for first (a
			 * file not open for reading: -EBADF). */
			struct stat st;
			if (fstat(file, &st) < 0 || !S_ISREG(st.st_mode))
				return 1;
			if (at < st.st_size) {
				uint64_t left = (uint64_t)(st.st_size - at);
				if (left >= len - *sent || !range_cached(file, at, (size_t)left))
					return 1;
			}
		}
		check = false;
		off_t pos = (off_t)at;
		ssize_t n = sendfile(sock, file, &pos, len - *sent);
		if (n > 0) {
			*sent += (size_t)n;
			since_turn += (size_t)n;
			continue;
		}
		if (n == 0)
			return 0; /* the end of the file */
		int e = errno;
		if (e == EINVAL)
			return 1; /* fds sendfile(2) cannot join: splice answers */
		if (e == EINTR)
			continue;
		if (e != EAGAIN)
			return -e;
		struct coil__op op;
		coil__op_init(&op, COIL__OP_POLL_OUT, sock, 0, -1);
		int r = coil__op_run(&op);
		if (r < 0)
			return r;
		since_turn = 0;
		/* Time passed: the pages may have been evicted meanwhile. */
		check = true;
	}
	return 0;
}

/* Whether sendfile(2) may run on the worker: 1 for a non-blocking socket,
 * 0 for a blocking one (it could hold the worker), or -EBADF where
 * sendfile(2) would say it before any byte: sock is not an open fd, or
 * not open for writing (the splice path would find that only once a
 * byte was read from the file, and say 0 at its end). */
static int sock_nonblocking(int sock)
{
	int fl = fcntl(sock, F_GETFL);
	if (fl < 0)
		return -errno;
	if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH))
		return -EBADF;
	return (fl & O_NONBLOCK) != 0;
}

#endif

/* Whether file takes offsets as pread(2) (and sendfile(2)) sees it. */
static bool takes_offsets(int file)
{
	struct stat st;
	return fstat(file, &st) != 0 || coil__fd_takes_offsets(file, &st);
}

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
			/* 0: the end of the file. Of a file with no offsets
			 * (an eventfd, a socket) splice(2) may say -EINVAL,
			 * where sendfile(2) says -ESPIPE. */
			r = in == -EINVAL && !takes_offsets(file) ? -ESPIPE : in;
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
	if (io->can_splice) {
		size_t sent = 0;
#ifdef __linux__
		int nb = sock_nonblocking(sock);
		if (nb < 0)
			return nb;
		if (nb) {
			int r = coil__checkpoint();
			if (r == 0)
				r = send_cached(sock, file, off, len, &sent);
			/* An error after some bytes is seen by the next call. */
			if (r <= 0)
				return sent > 0 ? (ssize_t)sent : r;
		}
#endif
		ssize_t n = send_spliced(io, sock, file, off + (int64_t)sent, len - sent);
		return sent > 0 ? (ssize_t)sent + (n > 0 ? n : 0) : n;
	}
	struct coil__op op;
	coil__op_init(&op, COIL__OP_SENDFILE, sock, 0, off);
	op.u.sendfile.fd_in = file;
	op.u.sendfile.len = len;
	return coil__op_run(&op);
}
