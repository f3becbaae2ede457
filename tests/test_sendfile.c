/* coil_sock_sendfile's paths: a range in the page cache goes out by
 * sendfile(2) on the worker (io_uring: no pipe), one that is not by splice
 * (io_uring) or sendfile(2) (readiness backends); every path sends the
 * file's bytes exactly, short only at the end of the file, and a deadline
 * in the middle of a body loses none of the bytes it counted. Loopback
 * only. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILE_SIZE (3u << 20)

static bool on_uring(void)
{
	return strcmp(coil_backend_name(), "io_uring") == 0;
}

static char byte_at(size_t i)
{
	return (char)(i * 31 / 4093);
}

/* A new file of FILE_SIZE bytes; *path gets its name. */
static int make_file(char *path, size_t cap)
{
	coil_test_tmp_path(path, cap, "sendfile");
	int f = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(f, 0);
	char *data = malloc(FILE_SIZE);
	for (size_t i = 0; i < FILE_SIZE; i++)
		data[i] = byte_at(i);
	ck_assert_int_eq(coil_file_write_all(f, data, FILE_SIZE, 0), FILE_SIZE);
	free(data);
	return f;
}

/* Drop [off, end) of f from the page cache (a large folio that starts
 * before off may stay). Whether the last page left: false on a file
 * system that keeps its pages (tmpfs). */
static bool drop_cache(int f, size_t off)
{
	ck_assert_int_eq(coil_file_sync(f, false), 0);
	ck_assert_int_eq(posix_fadvise(f, (off_t)off, 0, POSIX_FADV_DONTNEED), 0);
	void *m = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, f, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	unsigned char vec[1];
	ck_assert_int_eq(mincore((char *)m + FILE_SIZE - 4096, 1, vec), 0);
	munmap(m, FILE_SIZE);
	return !(vec[0] & 1);
}

struct sink {
	int fd;
	size_t from; /* the file offset of the first byte */
	size_t got;
	bool same;
};

/* Read to the end of the stream, checking every byte against the file's. */
static void *sink_main(void *arg)
{
	struct sink *s = arg;
	static _Thread_local char buf[65536];
	s->same = true;
	for (;;) {
		ssize_t r = coil_sock_read(s->fd, buf, sizeof buf);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r && s->same; i++)
			s->same = buf[i] == byte_at(s->from + s->got + (size_t)i);
		s->got += (size_t)r;
	}
	return NULL;
}

struct pair {
	int l, c, s;
};

static struct pair connect_pair(void)
{
	struct pair p;
	p.l = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	ck_assert_int_ge(p.l, 0);
	p.c = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(p.l));
	ck_assert_int_ge(p.c, 0);
	p.s = coil_tcp_accept(p.l, NULL, NULL);
	ck_assert_int_ge(p.s, 0);
	return p;
}

static void close_pair(struct pair p)
{
	ck_assert_int_eq(coil_close(p.s), 0);
	ck_assert_int_eq(coil_close(p.c), 0);
	ck_assert_int_eq(coil_close(p.l), 0);
}

/* Send [off, off + len) of f with as many calls as it takes (a short count
 * only at the end of the file), and check what arrived. Returns the count
 * of fds open while the sockets were: what a call left behind shows. */
static int send_and_check(int f, size_t off, size_t len)
{
	struct pair p = connect_pair();
	struct sink sk = {.fd = p.c, .from = off};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, sink_main, &sk), 0);
	size_t want = off + len > FILE_SIZE ? FILE_SIZE - off : len;
	size_t sent = 0;
	while (sent < want) {
		ssize_t n = coil_sock_sendfile(p.s, f, (int64_t)(off + sent), len - sent);
		ck_assert_int_gt(n, 0);
		sent += (size_t)n;
	}
	ck_assert_int_eq(sent, want);
	ck_assert_int_eq(coil_sock_sendfile(p.s, f, (int64_t)(off + sent), len - sent), 0);
	int fds = coil_test_count_fds();
	ck_assert_int_eq(coil_sock_shutdown(p.s, SHUT_WR), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(sk.got, want);
	ck_assert_msg(sk.same, "the bytes received differ from the file's");
	close_pair(p);
	return fds;
}

/* arg: non-NULL when cachestat(2) is refused (every range splices). */
static void *paths_main(void *arg)
{
	bool splice_only = arg != NULL;
	char path[256];
	int f = make_file(path, sizeof path);
	/* Warm every path once (the sockets' and the task's first fds). */
	int base = send_and_check(f, 0, FILE_SIZE);
	/* Cached: the same bytes, and on io_uring no pipe was needed (the
	 * worker keeps the pipes it splices through: 2 fds more). */
	ck_assert_int_eq(send_and_check(f, 4096, FILE_SIZE), base);
	ck_assert_int_eq(send_and_check(f, 100, 5000), base);
	/* The second half dropped from the cache: a range partly out of it
	 * splices on io_uring (which keeps a pipe from then on). */
	bool dropped = drop_cache(f, FILE_SIZE / 2);
	int after = send_and_check(f, 1000, FILE_SIZE);
	if (dropped && on_uring())
		ck_assert_int_eq(after, splice_only ? base : base + 2);
	/* Nothing cached at all, from an odd offset to past the end. */
	drop_cache(f, 0);
	send_and_check(f, 12345, FILE_SIZE);
	ck_assert_int_eq(coil_close(f), 0);
	unlink(path);
	return NULL;
}

START_TEST(cached_or_not_the_files_bytes_arrive_exactly)
{
	coil_test_run(paths_main, NULL);
}
END_TEST

/* Kernels before 6.5 have no cachestat(2): every range then splices. */
START_TEST(without_cachestat_the_bytes_still_arrive_exactly)
{
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
	long nr[] = {__NR_cachestat};
	int err[] = {ENOSYS};
	int r = coil_test_refuse_syscalls(nr, err, 1);
	if (r < 0) {
		coil_test_skip("no seccomp filter here");
		return;
	}
	coil_test_run(paths_main, &r);
}
END_TEST

/* A reader that reads nothing: the sender's deadline ends the call in the
 * middle of the body. The count it gives is what the peer then reads, to
 * the byte, and the next call goes on from there. */
static void *deadline_main(void *arg)
{
	(void)arg;
	char path[256];
	int f = make_file(path, sizeof path);
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			drop_cache(f, 0);
		struct pair p = connect_pair();
		/* Small buffers: far less than the file fits in flight. */
		int small = 65536;
		ck_assert_int_eq(setsockopt(p.s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
		ck_assert_int_eq(setsockopt(p.c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
		coil_scope sc;
		ck_assert_int_eq(coil_scope_enter_timeout(&sc, 100 * 1000 * 1000), 0);
		ssize_t n = coil_sock_sendfile(p.s, f, 0, FILE_SIZE);
		coil_scope_exit(&sc);
		/* The buffers hold far less than the file: the call waited
		 * for room, and its deadline ended it, after some bytes (or
		 * before any, on a machine slow enough to pass the deadline
		 * first: then nothing may have gone). */
		if (n < 0)
			ck_assert_int_eq(n, -ETIMEDOUT);
		ck_assert_int_lt(n, FILE_SIZE);
		size_t done = n > 0 ? (size_t)n : 0;
		struct sink sk = {.fd = p.c, .from = 0};
		coil_task t;
		ck_assert_int_eq(coil_task_spawn(&t, sink_main, &sk), 0);
		ck_assert_int_eq(coil_sock_sendfile(p.s, f, (int64_t)done, 4096), 4096);
		ck_assert_int_eq(coil_sock_shutdown(p.s, SHUT_WR), 0);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
		ck_assert_int_eq(sk.got, done + 4096);
		ck_assert_msg(sk.same, "the bytes received differ from the file's");
		close_pair(p);
	}
	ck_assert_int_eq(coil_close(f), 0);
	unlink(path);
	return NULL;
}

START_TEST(a_deadline_mid_body_loses_no_counted_byte)
{
	coil_test_run(deadline_main, NULL);
}
END_TEST

/* sendfile(2) looks at the fds before the offset: a file opened write-only
 * (or O_PATH) is -EBADF at any offset, also past its end, where a readable
 * file gives 0; so is a socket that is not an open fd. The io_uring path
 * answered 0 past the end (its check of the end came first). */
static void *fds_first_main(void *arg)
{
	(void)arg;
	char path[256];
	int f = make_file(path, sizeof path);
	int wo = coil_file_open(path, O_WRONLY, 0);
	ck_assert_int_ge(wo, 0);
	int op = coil_file_open(path, O_PATH, 0);
	ck_assert_int_ge(op, 0);
	struct pair p = connect_pair();
	/* A blocking socket too (io_uring splices to it, the readiness
	 * backends call sendfile(2) in the pool). */
	int bs[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bs), 0);
	/* The last fd made: its number stays free. */
	int gone = coil_file_open(path, O_RDONLY, 0);
	ck_assert_int_ge(gone, 0);
	ck_assert_int_eq(coil_close(gone), 0);
	/* Before the end, at it, past it within its last page, far past it. */
	const int64_t offs[] = {0, 4096, FILE_SIZE - 1, FILE_SIZE, FILE_SIZE + 100,
				(int64_t)FILE_SIZE << 4, (int64_t)1 << 40};
	for (int cached = 1; cached >= 0; cached--) {
		if (!cached)
			drop_cache(f, 0);
		for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
			int64_t o = offs[i];
			ck_assert_msg(coil_sock_sendfile(p.s, wo, o, 4096) == -EBADF,
				      "write-only file at %lld", (long long)o);
			ck_assert_msg(coil_sock_sendfile(p.s, op, o, 4096) == -EBADF,
				      "O_PATH file at %lld", (long long)o);
			ck_assert_msg(coil_sock_sendfile(gone, f, o, 4096) == -EBADF,
				      "closed socket at %lld", (long long)o);
			ck_assert_msg(coil_sock_sendfile(bs[0], wo, o, 4096) == -EBADF,
				      "write-only file to a blocking socket at %lld", (long long)o);
			if (o >= FILE_SIZE) {
				ck_assert_int_eq(coil_sock_sendfile(p.s, f, o, 4096), 0);
				ck_assert_int_eq(coil_sock_sendfile(bs[0], f, o, 4096), 0);
			}
		}
	}
	close_pair(p);
	ck_assert_int_eq(coil_close(bs[0]), 0);
	ck_assert_int_eq(coil_close(bs[1]), 0);
	ck_assert_int_eq(coil_close(wo), 0);
	ck_assert_int_eq(coil_close(op), 0);
	ck_assert_int_eq(coil_close(f), 0);
	unlink(path);
	return NULL;
}

START_TEST(sendfile_from_a_file_not_open_for_reading_is_ebadf_at_any_offset)
{
	coil_test_run(fds_first_main, NULL);
}
END_TEST

/* sendfile(2) from an fd that takes no offsets (io/offsets.h: an eventfd,
 * a socket, a pipe) is -ESPIPE and takes nothing from it; io_uring's
 * splice said -EINVAL of the first two. */
static void *no_offsets_main(void *arg)
{
	(void)arg;
	struct pair p = connect_pair();
	int ev = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(ev, 0);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "abcd", 4), 4);
	int pp[2];
	ck_assert_int_eq(pipe2(pp, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(write(pp[1], "abcd", 4), 4);
	const int files[] = {ev, sv[0], pp[0]};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		for (int64_t o = 0; o <= 4096; o += 4096)
			ck_assert_msg(coil_sock_sendfile(p.s, files[i], o, 4) == -ESPIPE,
				      "fd %zu at %lld", i, (long long)o);
	/* Nothing was taken. */
	uint64_t v = 0;
	ck_assert_int_eq(read(ev, &v, sizeof v), (ssize_t)sizeof v);
	ck_assert_int_eq(v, 1);
	char buf[8];
	ck_assert_int_eq(read(sv[0], buf, sizeof buf), 4);
	ck_assert_int_eq(read(pp[0], buf, sizeof buf), 4);
	ck_assert_int_eq(coil_close(ev), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	ck_assert_int_eq(coil_close(pp[0]), 0);
	ck_assert_int_eq(coil_close(pp[1]), 0);
	close_pair(p);
	return NULL;
}

START_TEST(sendfile_from_an_fd_with_no_offsets_is_espipe)
{
	coil_test_run(no_offsets_main, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sendfile");
	TCase *tc = tcase_create("sendfile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cached_or_not_the_files_bytes_arrive_exactly);
	tcase_add_test(tc, without_cachestat_the_bytes_still_arrive_exactly);
	tcase_add_test(tc, a_deadline_mid_body_loses_no_counted_byte);
	tcase_add_test(tc, sendfile_from_a_file_not_open_for_reading_is_ebadf_at_any_offset);
	tcase_add_test(tc, sendfile_from_an_fd_with_no_offsets_is_espipe);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
