/*
 * coil/race.h: racing I/O operations. Start several operations at once,
 * take the first to complete, cancel the others and wait for them: when
 * coil_race returns, the kernel holds none of the buffers any more.
 *
 * A cancelled operation may complete anyway (it won its own race against
 * the cancel): then its real result is reported, so nothing is lost. An
 * accept that completed anyway returned a connection: it is in that op's
 * .res for the caller to use or close, or closed by coil with
 * COIL_RACE_CLOSE_LOSERS. Never leaked.
 *
 *     struct coil_race_op ops[2] = {
 *         {.kind = COIL_RACE_ACCEPT, .fd = lfd},
 *         {.kind = COIL_RACE_SOCK_READ, .fd = ctl, .buf = cmd, .len = sizeof cmd},
 *     };
 *     int first = coil_race(ops, 2, COIL_RACE_CLOSE_LOSERS);
 */
#ifndef COIL_RACE_H
#define COIL_RACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

enum coil_race_kind {
	COIL_RACE_SOCK_READ = 1,  /* coil_sock_read(fd, buf, len) */
	COIL_RACE_SOCK_WRITE,	  /* coil_sock_write(fd, buf, len) */
	COIL_RACE_ACCEPT,	  /* coil_tcp_accept(fd, NULL, NULL) */
	COIL_RACE_FILE_READ,	  /* coil_file_read(fd, buf, len, off) */
	COIL_RACE_SLEEP,	  /* coil_sleep(ns): res 0 when it fires */
};

struct coil_race_op {
	int kind;		/* enum coil_race_kind */
	int fd;
	void *buf;
	size_t len;
	int64_t off;		/* COIL_RACE_FILE_READ: offset, -1 for the file position */
	int64_t ns;		/* COIL_RACE_SLEEP: duration */
	ssize_t res;		/* out: the result, or -ECANCELED if it did not happen */
};

#define COIL_RACE_MAX 16
/* Close the fds that losing accepts returned anyway (their .res becomes
 * -ECANCELED). */
#define COIL_RACE_CLOSE_LOSERS 0x1u

/*
 * Run ops[0..n-1] at once (1 <= n <= COIL_RACE_MAX); return when the first
 * has completed and every other one has completed or been cancelled.
 * Returns the index of the first to complete (its .res is its result, >= 0
 * or -errno), or -ECANCELED / -ETIMEDOUT if the task or a scope stopped the
 * race before any op completed with a result of its own (every .res is
 * still set: check for accepts that completed anyway unless
 * COIL_RACE_CLOSE_LOSERS), or -EINVAL (bad n, kind, buffer, flags, a
 * FILE_READ offset below -1), -EBADF (an op's fd < 0), -EPERM (outside a
 * fiber); these three before any op started, with every .res untouched.
 */
COIL_API int coil_race(struct coil_race_op *ops, int n, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
