/* Files: open (also beneath a directory), positional and streaming reads and
 * writes, vectors, sync, stat, close. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#ifdef __linux__ /* not on WASI (tests/wasi/CMakeLists.txt) */
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#endif

struct fs_arg {
	char path[128];
	uint64_t seed;
};

static int open_tmp(const char *path)
{
	int fd = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "open(%s): %d", path, fd);
	return fd;
}

/* ---- positional reads and writes ------------------------------------------------------ */

#define FSIZE (100 * 1000)

static void *rw_main(void *arg)
{
	struct fs_arg *a = arg;
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, a->seed);
	unsigned char *data = malloc(FSIZE), *got = malloc(FSIZE + 100);
	ck_assert(data && got);
	coil_test_rng_fill(&rng, data, FSIZE);

	int fd = open_tmp(a->path);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(coil_file_write_all(fd, data, FSIZE, 0), FSIZE);

	/* reads at fixed and random offsets */
	static const int64_t offs[] = {0, 1, 4095, 4096, 4097, 50000, FSIZE - 1};
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		size_t want = FSIZE - (size_t)offs[i];
		if (want > 8192)
			want = 8192;
		ssize_t r = coil_file_read(fd, got, want, offs[i]);
		ck_assert_msg(r == (ssize_t)want, "read at %lld: %zd, want %zu",
			      (long long)offs[i], r, want);
		ck_assert_msg(memcmp(got, data + offs[i], want) == 0, "bytes at %lld differ",
			      (long long)offs[i]);
	}
	for (int i = 0; i < 200; i++) {
		int64_t off = (int64_t)coil_test_rng_range(&rng, 0, FSIZE - 1);
		size_t len = (size_t)coil_test_rng_range(&rng, 1, 20000);
		size_t avail = FSIZE - (size_t)off;
		ssize_t r = coil_file_read(fd, got, len, off);
		size_t expect = len < avail ? len : avail;
		ck_assert_msg(r == (ssize_t)expect, "read %zu at %lld: %zd", len, (long long)off, r);
		ck_assert(memcmp(got, data + off, expect) == 0);
	}
	/* the end of the file, and past it */
	ck_assert_int_eq(coil_file_read(fd, got, 100, FSIZE - 10), 10);
	ck_assert(memcmp(got, data + FSIZE - 10, 10) == 0);
	ck_assert_int_eq(coil_file_read(fd, got, 100, FSIZE), 0);
	ck_assert_int_eq(coil_file_read(fd, got, 100, FSIZE + 12345), 0);
	ck_assert_int_eq(coil_file_read(fd, got, 0, 0), 0);

	/* an overwrite in the middle, and a write past the end leaves a hole of zeros */
	ck_assert_int_eq(coil_file_write(fd, "XYZ", 3, 500), 3);
	ck_assert_int_eq(coil_file_read(fd, got, 5, 499), 5);
	ck_assert_int_eq(got[0], data[499]);
	ck_assert(memcmp(got + 1, "XYZ", 3) == 0);
	ck_assert_int_eq(got[4], data[503]);
	ck_assert_int_eq(coil_file_write_all(fd, "end", 3, FSIZE + 1000), 3);
	ck_assert_int_eq(coil_file_read(fd, got, FSIZE, FSIZE - 1), 1004);
	ck_assert_int_eq(got[0], data[FSIZE - 1]);
	for (int i = 1; i <= 1000; i++)
		ck_assert_int_eq(got[i], 0);
	ck_assert(memcmp(got + 1001, "end", 3) == 0);

	/* positional I/O does not move the file position */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 0);

	ck_assert_int_eq(coil_file_sync(fd, false), 0);
	ck_assert_int_eq(coil_file_sync(fd, true), 0);
	ck_assert_int_eq(coil_close(fd), 0);

	/* and another descriptor sees the same bytes */
	fd = coil_file_open(a->path, O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_file_read(fd, got, 1000, 0), 1000);
	ck_assert(memcmp(got + 503, data + 503, 497) == 0);
	ck_assert_int_eq(coil_close(fd), 0);
	free(data);
	free(got);
	return NULL;
}

START_TEST(file_write_all_and_read_at_offsets_including_past_eof)
{
	struct fs_arg a;
	coil_test_tmp_path(a.path, sizeof a.path, "rw");
	a.seed = coil_test_seed("file_rw");
	coil_test_run(rw_main, &a);
	ck_assert_int_eq(unlink(a.path), 0);
}
END_TEST

static void *pos_main(void *arg)
{
	struct fs_arg *a = arg;
	int fd = open_tmp(a->path);
	char buf[16];
	/* off == -1 writes and reads at the file position and advances it */
	ck_assert_int_eq(coil_file_write(fd, "abc", 3, -1), 3);
	ck_assert_int_eq(coil_file_write(fd, "def", 3, -1), 3);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 6);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(coil_file_read(fd, buf, 2, -1), 2);
	ck_assert(memcmp(buf, "ab", 2) == 0);
	ck_assert_int_eq(coil_file_read(fd, buf, 10, -1), 4);
	ck_assert(memcmp(buf, "cdef", 4) == 0);
	ck_assert_int_eq(coil_file_read(fd, buf, 10, -1), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 6);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

START_TEST(offset_minus_one_uses_and_advances_file_position)
{
	struct fs_arg a;
	coil_test_tmp_path(a.path, sizeof a.path, "pos");
	coil_test_run(pos_main, &a);
	ck_assert_int_eq(unlink(a.path), 0);
}
END_TEST

/* ---- vectors ------------------------------------------------------------------------- */

static void *vec_main(void *arg)
{
	struct fs_arg *a = arg;
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, a->seed);
	static unsigned char p0[100], p1[5000], p2[1];
	static unsigned char all[5101], q0[3000], q1[2101], back[5101];
	coil_test_rng_fill(&rng, p0, sizeof p0);
	coil_test_rng_fill(&rng, p1, sizeof p1);
	coil_test_rng_fill(&rng, p2, sizeof p2);
	memcpy(all, p0, 100);
	memcpy(all + 100, p1, 5000);
	memcpy(all + 5100, p2, 1);

	int fd = open_tmp(a->path);
	struct iovec wv[3] = {{p0, sizeof p0}, {p1, sizeof p1}, {p2, sizeof p2}};
	ck_assert_int_eq(coil_file_writev(fd, wv, 3, 10), 5101);
	/* read back split differently */
	struct iovec rv[2] = {{q0, sizeof q0}, {q1, sizeof q1}};
	ck_assert_int_eq(coil_file_readv(fd, rv, 2, 10), 5101);
	ck_assert(memcmp(q0, all, 3000) == 0);
	ck_assert(memcmp(q1, all + 3000, 2101) == 0);
	/* the first 10 bytes are a hole */
	unsigned char head[10];
	memset(head, 0xff, sizeof head);
	ck_assert_int_eq(coil_file_read(fd, head, 10, 0), 10);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(head[i], 0);
	/* a vector that reaches past EOF gets the short count */
	struct iovec one = {back, sizeof back};
	ck_assert_int_eq(coil_file_readv(fd, &one, 1, 110), 5001);
	ck_assert(memcmp(back, all + 100, 5001) == 0);
	/* at the file position */
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	struct iovec wv2[2] = {{"hello ", 6}, {"world", 5}};
	ck_assert_int_eq(coil_file_writev(fd, wv2, 2, -1), 11);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 11);
	char r0[4], r1[7];
	struct iovec rv2[2] = {{r0, 4}, {r1, 7}};
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(coil_file_readv(fd, rv2, 2, -1), 11);
	ck_assert(memcmp(r0, "hell", 4) == 0);
	ck_assert(memcmp(r1, "o world", 7) == 0);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

START_TEST(writev_and_readv_scatter_and_gather)
{
	struct fs_arg a;
	coil_test_tmp_path(a.path, sizeof a.path, "vec");
	a.seed = coil_test_seed("file_vec");
	coil_test_run(vec_main, &a);
	ck_assert_int_eq(unlink(a.path), 0);
}
END_TEST

/* ---- stat ----------------------------------------------------------------------------------- */

static void check_stat(const struct coil_stat *cs, const struct stat *st)
{
	ck_assert_uint_eq(cs->size, (uint64_t)st->st_size);
	ck_assert_uint_eq(cs->mode, st->st_mode);
	ck_assert_uint_eq(cs->ino, st->st_ino);
	ck_assert_uint_eq(cs->dev, st->st_dev);
	ck_assert_uint_eq(cs->nlink, st->st_nlink);
	ck_assert_uint_eq(cs->uid, st->st_uid);
	ck_assert_uint_eq(cs->gid, st->st_gid);
	ck_assert_uint_eq(cs->blocks, (uint64_t)st->st_blocks);
	ck_assert_uint_eq(cs->blksize, (uint64_t)st->st_blksize);
	int64_t mt = (int64_t)st->st_mtim.tv_sec * COIL_NSEC_PER_SEC + st->st_mtim.tv_nsec;
	int64_t ct = (int64_t)st->st_ctim.tv_sec * COIL_NSEC_PER_SEC + st->st_ctim.tv_nsec;
	ck_assert_int_eq(cs->mtime_ns, mt);
	ck_assert_int_eq(cs->ctime_ns, ct);
}

static void *stat_main(void *arg)
{
	struct fs_arg *a = arg;
	int fd = coil_file_open(a->path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0640), 0); /* regardless of umask */
	static char block[12345];
	memset(block, 'q', sizeof block);
	ck_assert_int_eq(coil_file_write_all(fd, block, sizeof block, 0), (ssize_t)sizeof block);

	struct coil_stat cs;
	struct stat st;
	memset(&cs, 0xa5, sizeof cs);
	ck_assert_int_eq(coil_file_stat(fd, &cs), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(cs.size, sizeof block);
	ck_assert(S_ISREG(cs.mode));
	ck_assert_uint_eq(cs.mode & 07777, 0640);
	check_stat(&cs, &st);

	memset(&cs, 0x5a, sizeof cs);
	ck_assert_int_eq(coil_path_stat(a->path, &cs), 0);
	check_stat(&cs, &st);

	/* a directory */
	memset(&cs, 0, sizeof cs);
	ck_assert_int_eq(coil_path_stat("/", &cs), 0);
	ck_assert(S_ISDIR(cs.mode));
	ck_assert_int_eq(stat("/", &st), 0);
	ck_assert_uint_eq(cs.ino, st.st_ino);

	char missing[160];
	snprintf(missing, sizeof missing, "%s.missing", a->path);
	ck_assert_int_eq(coil_path_stat(missing, &cs), -ENOENT);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

START_TEST(file_stat_and_path_stat_agree_with_fstat)
{
	struct fs_arg a;
	coil_test_tmp_path(a.path, sizeof a.path, "stat");
	coil_test_run(stat_main, &a);
	ck_assert_int_eq(unlink(a.path), 0);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------- */

static void *errors_main(void *arg)
{
	struct fs_arg *a = arg;
	char buf[64];
	char missing[160];
	snprintf(missing, sizeof missing, "%s.does-not-exist", a->path);
	ck_assert_int_eq(coil_file_open(missing, O_RDONLY, 0), -ENOENT);
	ck_assert_int_eq(coil_file_open("/nonexistent-dir-coil/x", O_RDWR | O_CREAT, 0600),
			 -ENOENT);

	/* a directory */
	int dfd = coil_file_open("/tmp", O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(coil_file_read(dfd, buf, sizeof buf, 0), -EISDIR);
	ck_assert_int_eq(coil_file_read(dfd, buf, sizeof buf, -1), -EISDIR);
	ck_assert_int_eq(coil_close(dfd), 0);

	/* a closed descriptor */
	int fd = open_tmp(a->path);
	ck_assert_int_eq(coil_file_write_all(fd, "data", 4, 0), 4);
	ck_assert_int_eq(coil_close(fd), 0);
	ck_assert_int_eq(coil_file_read(fd, buf, sizeof buf, 0), -EBADF);
	ck_assert_int_eq(coil_file_write(fd, buf, 4, 0), -EBADF);
	ck_assert_int_eq(coil_file_sync(fd, false), -EBADF);
	struct coil_stat cs;
	ck_assert_int_eq(coil_file_stat(fd, &cs), -EBADF);
	ck_assert_int_eq(coil_close(fd), -EBADF);

	/* writing a read-only descriptor */
	fd = coil_file_open(a->path, O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_file_write(fd, "x", 1, 0), -EBADF);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

START_TEST(open_missing_enoent_read_dir_eisdir_closed_ebadf)
{
	struct fs_arg a;
	coil_test_tmp_path(a.path, sizeof a.path, "err");
	coil_test_run(errors_main, &a);
	ck_assert_int_eq(unlink(a.path), 0);
}
END_TEST

/* ---- a pipe, at the file position -------------------------------------------------------- */

struct pipe_arg {
	int rfd;
	char buf[32];
	ssize_t n;
	int64_t waited;
};

static void *pipe_reader(void *arg)
{
	struct pipe_arg *p = arg;
	int64_t t0 = coil_now();
	p->n = coil_file_read(p->rfd, p->buf, sizeof p->buf, -1);
	p->waited = coil_now() - t0;
	return NULL;
}

static void *pipe_main(void *arg)
{
	(void)arg;
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0); /* blocking pipe */
	/* immediate data */
	ck_assert_int_eq(coil_file_write(p[1], "abc", 3, -1), 3);
	char buf[16];
	ck_assert_int_eq(coil_file_read(p[0], buf, sizeof buf, -1), 3);
	ck_assert(memcmp(buf, "abc", 3) == 0);

	/* a reader parks; the worker is not blocked, so this fiber runs on */
	struct pipe_arg pa = {.rfd = p[0], .n = -1};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, pipe_reader, &pa), 0);
	ck_assert_int_eq(coil_sleep(30 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(pa.n, -1); /* still waiting */
	ck_assert_int_eq(coil_file_write(p[1], "later", 5, -1), 5);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(pa.n, 5);
	ck_assert(memcmp(pa.buf, "later", 5) == 0);

	/* EOF once the write end is closed */
	ck_assert_int_eq(coil_close(p[1]), 0);
	ck_assert_int_eq(coil_file_read(p[0], buf, sizeof buf, -1), 0);
	ck_assert_int_eq(coil_close(p[0]), 0);
	return NULL;
}

START_TEST(pipe_read_and_write_at_offset_minus_one)
{
	coil_test_run(pipe_main, NULL);
}
END_TEST

/* ---- an offset where pread(2) takes none, and where it takes one ------------------------ */

/* What pread(2) itself says of len bytes at off on fd: the count or -errno. */
static ssize_t pread_says(int fd, size_t len, int64_t off)
{
	char buf[64];
	ck_assert_uint_le(len, sizeof buf);
	ssize_t n = pread(fd, buf, len, (off_t)off);
	return n < 0 ? -errno : n;
}

/* Every positional call of fd at off answers as pread(2) does: -ESPIPE. */
static void offsets_refused(int fd, const char *what)
{
	uint64_t v = 1;
	struct iovec iov = {&v, sizeof v};
	ck_assert_int_eq(pread_says(fd, sizeof v, 0), -ESPIPE);
	ck_assert_msg(coil_file_read(fd, &v, sizeof v, 0) == -ESPIPE, "read of %s", what);
	ck_assert_msg(coil_file_write(fd, &v, sizeof v, 0) == -ESPIPE, "write of %s", what);
	ck_assert_msg(coil_file_readv(fd, &iov, 1, 4096) == -ESPIPE, "readv of %s", what);
	ck_assert_msg(coil_file_writev(fd, &iov, 1, 4096) == -ESPIPE, "writev of %s", what);
	ck_assert_msg(coil_file_write_all(fd, &v, sizeof v, 0) == -ESPIPE, "write_all of %s", what);
}

static void *no_offsets_main(void *arg)
{
	(void)arg;
#ifdef __linux__
	/* An eventfd seeks (lseek(2) says 0) but has no offsets: io_uring
	 * would read and write its counter whatever the offset. */
	int ev = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(ev, 0);
	ck_assert_int_eq(lseek(ev, 0, SEEK_CUR), 0);
	offsets_refused(ev, "an eventfd");
	/* Nothing was read or written: the counter is still 1. */
	uint64_t v = 0;
	ck_assert_int_eq(coil_file_read(ev, &v, sizeof v, -1), (ssize_t)sizeof v);
	ck_assert_int_eq(v, 1);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	int sig = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	ck_assert_int_ge(sig, 0);
	offsets_refused(sig, "a signalfd");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(ep, 0);
	offsets_refused(ep, "an epoll fd");
	ck_assert_int_eq(coil_close(ev), 0);
	ck_assert_int_eq(coil_close(sig), 0);
	ck_assert_int_eq(coil_close(ep), 0);
#endif
	return NULL;
}

START_TEST(file_offset_on_an_fd_pread_refuses_is_espipe)
{
	coil_test_run(no_offsets_main, NULL);
}
END_TEST

/* A character device that takes offsets (/dev/null, /dev/zero) is read
 * and written at one, as pread(2) and pwrite(2) do: blocking or not. */
static void *device_offsets_main(void *arg)
{
	(void)arg;
	for (int nb = 0; nb < 2; nb++) {
		int flags = O_RDWR | (nb ? O_NONBLOCK : 0);
		int null = coil_file_open("/dev/null", flags, 0);
		ck_assert_int_ge(null, 0);
		char buf[8] = "abcdefg";
		struct iovec iov = {buf, sizeof buf};
		ck_assert_int_eq(pread_says(null, sizeof buf, 4096), 0);
		ck_assert_int_eq(coil_file_read(null, buf, sizeof buf, 4096), 0);
		ck_assert_int_eq(coil_file_readv(null, &iov, 1, 0), 0);
		ck_assert_int_eq(coil_file_write(null, buf, sizeof buf, 4096), (ssize_t)sizeof buf);
		ck_assert_int_eq(coil_file_writev(null, &iov, 1, 0), (ssize_t)sizeof buf);
		ck_assert_int_eq(coil_file_write_all(null, buf, sizeof buf, 1), (ssize_t)sizeof buf);
		int zero = coil_file_open("/dev/zero", flags, 0);
		ck_assert_int_ge(zero, 0);
		ck_assert_int_eq(pread_says(zero, sizeof buf, 4096), (ssize_t)sizeof buf);
		ck_assert_int_eq(coil_file_read(zero, buf, sizeof buf, 4096), (ssize_t)sizeof buf);
		ck_assert(memcmp(buf, "\0\0\0\0\0\0\0\0", sizeof buf) == 0);
		ck_assert_int_eq(coil_close(null), 0);
		ck_assert_int_eq(coil_close(zero), 0);
	}
	return NULL;
}

START_TEST(file_offset_on_a_device_that_takes_one_is_used)
{
	coil_test_run(device_offsets_main, NULL);
}
END_TEST

/* ---- opening beneath a directory ------------------------------------------------------- */

/*
 * The tree: <tmp>/outside.txt ("secret") and <tmp>/root, the directory
 * that nothing may leave:
 *   a.txt "hello"      sub/b.txt "bee"       sub/back -> ../a.txt
 *   in_link -> sub/b.txt   dir_link -> sub   up_link -> ../outside.txt
 *   abs_link -> <tmp>/outside.txt            loop_link -> loop_link
 *   out_new -> ../created-outside (dangling, out)
 */
struct beneath_arg {
	char tmp[128];
	char root[160];
	char outside[160];
};

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "fopen %s", path);
	fputs(text, f);
	fclose(f);
}

static void make_tree(struct beneath_arg *a)
{
	coil_test_tmp_dir(a->tmp, sizeof a->tmp, "beneath");
	snprintf(a->root, sizeof a->root, "%s/root", a->tmp);
	snprintf(a->outside, sizeof a->outside, "%s/outside.txt", a->tmp);
	char p[256];
	put_file(a->outside, "secret");
	ck_assert_int_eq(mkdir(a->root, 0700), 0);
	snprintf(p, sizeof p, "%s/sub", a->root);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/a.txt", a->root);
	put_file(p, "hello");
	snprintf(p, sizeof p, "%s/sub/b.txt", a->root);
	put_file(p, "bee");
	static const char *links[][2] = {
		{"sub/back", "../a.txt"},	   {"in_link", "sub/b.txt"},
		{"dir_link", "sub"},		   {"up_link", "../outside.txt"},
		{"loop_link", "loop_link"},	   {"out_new", "../created-outside"},
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", a->root, links[i][0]);
		ck_assert_int_eq(symlink(links[i][1], p), 0);
	}
	snprintf(p, sizeof p, "%s/abs_link", a->root);
	ck_assert_int_eq(symlink(a->outside, p), 0);
}

static void remove_tree(const struct beneath_arg *a)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", a->tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* Open path beneath dirfd and expect the file to hold want. */
static void expect_text(int dirfd, const char *path, const char *want)
{
	int fd = coil_file_open_beneath(dirfd, path, O_RDONLY, 0);
	ck_assert_msg(fd >= 0, "open_beneath(%s): %d", path, fd);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	char buf[32] = {0};
	ssize_t n = coil_file_read(fd, buf, sizeof buf - 1, 0);
	ck_assert_msg(n == (ssize_t)strlen(want) && !memcmp(buf, want, strlen(want)),
		      "open_beneath(%s) read %zd '%s', want '%s'", path, n, buf, want);
	ck_assert_int_eq(coil_close(fd), 0);
}

static void expect_error(int dirfd, const char *path, int flags, int want)
{
	int fd = coil_file_open_beneath(dirfd, path, flags, 0600);
	if (fd >= 0)
		coil_close(fd);
	ck_assert_msg(fd == want, "open_beneath(%s, %#x): %d, want %d", path, flags, fd, want);
}

static void *beneath_main(void *arg)
{
	struct beneath_arg *a = arg;
	int root = coil_file_open(a->root, O_PATH | O_DIRECTORY, 0);
	ck_assert_int_ge(root, 0);

	/* names inside, however spelt; symlinks and ".." that stay inside */
	expect_text(root, "a.txt", "hello");
	expect_text(root, "sub/b.txt", "bee");
	expect_text(root, "./sub//./b.txt", "bee");
	expect_text(root, "sub/../a.txt", "hello");
	expect_text(root, "in_link", "bee");
	expect_text(root, "dir_link/b.txt", "bee");
	expect_text(root, "dir_link/back", "hello");
	expect_text(root, "sub/back", "hello");
	/* a NUL ends the name: nothing after it is seen */
	expect_text(root, "a.txt\0/../../outside.txt", "hello");

	/* every way out: .., absolute names, symlinks that leave */
	expect_error(root, "..", O_RDONLY, -EXDEV);
	expect_error(root, "../outside.txt", O_RDONLY, -EXDEV);
	expect_error(root, "sub/../../outside.txt", O_RDONLY, -EXDEV);
	expect_error(root, "dir_link/../../outside.txt", O_RDONLY, -EXDEV);
	expect_error(root, a->outside, O_RDONLY, -EXDEV);
	expect_error(root, "/etc/passwd", O_RDONLY, -EXDEV);
	expect_error(root, "up_link", O_RDONLY, -EXDEV);
	expect_error(root, "abs_link", O_RDONLY, -EXDEV);
	/* ...also when creating through a dangling link that points out */
	expect_error(root, "out_new", O_WRONLY | O_CREAT, -EXDEV);
	char p[256];
	snprintf(p, sizeof p, "%s/created-outside", a->tmp);
	ck_assert_int_eq(access(p, F_OK), -1);

	/* the other errors, as openat2 gives them */
	expect_error(root, "loop_link", O_RDONLY, -ELOOP);
	expect_error(root, "in_link", O_RDONLY | O_NOFOLLOW, -ELOOP);
	expect_error(root, "", O_RDONLY, -ENOENT);
	expect_error(root, "missing", O_RDONLY, -ENOENT);
	expect_error(root, "missing/x", O_RDONLY, -ENOENT);
	expect_error(root, "a.txt/", O_RDONLY, -ENOTDIR);
	expect_error(root, "a.txt/x", O_RDONLY, -ENOTDIR);
	expect_error(root, "sub", O_WRONLY, -EISDIR);
	expect_error(root, "a.txt", O_WRONLY | O_CREAT | O_EXCL, -EEXIST);
	ck_assert_int_eq(coil_file_open_beneath(root, NULL, O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(coil_file_open_beneath(-5, "a.txt", O_RDONLY, 0), -EBADF);

	/* directories, and files made beneath */
	int d = coil_file_open_beneath(root, "dir_link/", O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(d, 0);
	expect_text(d, "b.txt", "bee");
	expect_error(d, "../a.txt", O_RDONLY, -EXDEV); /* d is the root now */
	ck_assert_int_eq(coil_close(d), 0);
	d = coil_file_open_beneath(root, ".", O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(d, 0);
	ck_assert_int_eq(coil_close(d), 0);
	int fd = coil_file_open_beneath(root, "dir_link/new.txt", O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_file_write_all(fd, "made", 4, 0), 4);
	ck_assert_int_eq(coil_close(fd), 0);
	expect_text(root, "sub/new.txt", "made");

	/* a closed dirfd */
	ck_assert_int_eq(coil_close(root), 0);
	expect_error(root, "a.txt", O_RDONLY, -EBADF);
	return NULL;
}

START_TEST(open_beneath_follows_inside_and_refuses_every_way_out)
{
	struct beneath_arg a;
	make_tree(&a);
	coil_test_run(beneath_main, &a);
	remove_tree(&a);
}
END_TEST

/* The same answers from the checked walk, where the kernel has no openat2:
 * a seccomp filter makes the syscall -ENOSYS (as some container runtimes'
 * filters do) and io_uring is told it lacks IORING_OP_OPENAT2, so every
 * backend takes the blocking pool, whose openat2 fails. */
START_TEST(open_beneath_walk_without_openat2_gives_the_same_answers)
{
#ifdef SYS_openat2
	struct beneath_arg a;
	make_tree(&a);
	setenv("COIL_URING_WITHOUT", "openat2", 1);
	const long nr[] = {SYS_openat2};
	const int err[] = {ENOSYS};
	int r = coil_test_refuse_syscalls(nr, err, 1);
	if (r < 0) {
		remove_tree(&a);
		coil_test_skip("no seccomp filter here");
		return;
	}
	ck_assert_int_eq(syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0), -1);
	ck_assert_int_eq(errno, ENOSYS);
	coil_test_run(beneath_main, &a);
	remove_tree(&a);
#else
	coil_test_skip("no SYS_openat2 in these headers");
#endif
}
END_TEST

/* ---- the walk against openat2, on random paths ------------------------------------------------ */

#define DIFF_PATHS 2000

struct diff_arg {
	struct beneath_arg tree;
	char paths[DIFF_PATHS][96];
	int flags[DIFF_PATHS];
	/* what the open gave: an error (< 0), or the file's inode (> 0) */
	int64_t got[DIFF_PATHS];
	bool compare; /* second pass: check got[] instead of filling it */
};

static void make_paths(struct diff_arg *d, uint64_t seed)
{
	static const char *const parts[] = {
		"a.txt", "sub", "b.txt", "back", "in_link", "dir_link", "up_link", "abs_link",
		"loop_link", "out_new", "missing", ".", "..", "", "parent", "deep"};
	static const int flag_sets[] = {O_RDONLY, O_RDONLY, O_RDONLY | O_DIRECTORY,
					O_RDONLY | O_NOFOLLOW, O_PATH, O_PATH | O_NOFOLLOW};
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, seed);
	for (int i = 0; i < DIFF_PATHS; i++) {
		char *p = d->paths[i];
		size_t len = 0;
		if (coil_test_rng_range(&rng, 0, 30) == 0)
			p[len++] = '/';
		int n = (int)coil_test_rng_range(&rng, 1, 5);
		for (int k = 0; k < n; k++) {
			const char *part = parts[coil_test_rng_range(&rng, 0, 15)];
			len += (size_t)snprintf(p + len, sizeof d->paths[i] - len, "%s%s", k ? "/" : "",
						part);
		}
		if (coil_test_rng_range(&rng, 0, 8) == 0 && len + 1 < sizeof d->paths[i])
			p[len++] = '/';
		p[len] = '\0';
		d->flags[i] = flag_sets[coil_test_rng_range(&rng, 0, 5)];
	}
}

static void *diff_main(void *arg)
{
	struct diff_arg *d = arg;
	int root = coil_file_open(d->tree.root, O_PATH | O_DIRECTORY, 0);
	ck_assert_int_ge(root, 0);
	for (int i = 0; i < DIFF_PATHS; i++) {
		int fd = coil_file_open_beneath(root, d->paths[i], d->flags[i], 0);
		int64_t got = fd;
		if (fd >= 0) {
			struct stat st;
			ck_assert_int_eq(fstat(fd, &st), 0);
			got = (int64_t)st.st_ino;
			ck_assert_int_eq(coil_close(fd), 0);
		}
		if (d->compare)
			ck_assert_msg(got == d->got[i], "'%s' (flags %#x): walk %lld, openat2 %lld",
				      d->paths[i], d->flags[i], (long long)got, (long long)d->got[i]);
		else
			d->got[i] = got;
	}
	ck_assert_int_eq(coil_close(root), 0);
	return NULL;
}

/* The walk must give what openat2 gives: the same file or the same error,
 * for every path of a random mix of names, symlinks (in, out, absolute,
 * looping, dangling), ".", "..", empty components, leading and trailing
 * slashes, with O_NOFOLLOW, O_DIRECTORY and O_PATH. openat2 answers first;
 * then a seccomp filter takes it away and the walk answers. */
START_TEST(open_beneath_walk_agrees_with_openat2_on_random_paths)
{
#ifdef SYS_openat2
	struct diff_arg *d = calloc(1, sizeof *d);
	ck_assert(d != NULL);
	make_tree(&d->tree);
	char p[256];
	snprintf(p, sizeof p, "%s/sub/parent", d->tree.root);
	ck_assert_int_eq(symlink("..", p), 0);
	snprintf(p, sizeof p, "%s/sub/deep", d->tree.root);
	ck_assert_int_eq(symlink("parent/dir_link/parent/sub", p), 0);
	make_paths(d, coil_test_seed("beneath_diff"));
	coil_test_run(diff_main, d);
	setenv("COIL_URING_WITHOUT", "openat2", 1);
	const long nr[] = {SYS_openat2};
	const int err[] = {ENOSYS};
	if (coil_test_refuse_syscalls(nr, err, 1) < 0) {
		remove_tree(&d->tree);
		free(d);
		coil_test_skip("no seccomp filter here");
		return;
	}
	d->compare = true;
	coil_test_run(diff_main, d);
	remove_tree(&d->tree);
	free(d);
#else
	coil_test_skip("no SYS_openat2 in these headers");
#endif
}
END_TEST

static Suite *fs_suite(void)
{
	Suite *s = suite_create("fs");
	TCase *tc = tcase_create("file");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, file_write_all_and_read_at_offsets_including_past_eof);
	tcase_add_test(tc, offset_minus_one_uses_and_advances_file_position);
	tcase_add_test(tc, writev_and_readv_scatter_and_gather);
	tcase_add_test(tc, file_stat_and_path_stat_agree_with_fstat);
	tcase_add_test(tc, open_missing_enoent_read_dir_eisdir_closed_ebadf);
	tcase_add_test(tc, pipe_read_and_write_at_offset_minus_one);
	tcase_add_test(tc, file_offset_on_an_fd_pread_refuses_is_espipe);
	tcase_add_test(tc, file_offset_on_a_device_that_takes_one_is_used);
	tcase_add_test(tc, open_beneath_follows_inside_and_refuses_every_way_out);
	tcase_add_test(tc, open_beneath_walk_without_openat2_gives_the_same_answers);
	tcase_add_test(tc, open_beneath_walk_agrees_with_openat2_on_random_paths);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(fs_suite());
}
