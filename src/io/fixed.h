/*
 * Registered files (COIL_FEATURE_FIXED_FILES): what every ring that keeps
 * fds in its file table must agree on, process-wide.
 *
 * A worker registers an fd in its ring's table at the slot of the same
 * number the first time it submits an op on it (io_uring backend), and its
 * ops then name the slot (IOSQE_FIXED_FILE: no file reference taken per op).
 * The fd stays a real fd: every other call works as before. A slot holds
 * the file open, so a close must reach every ring that registered it:
 *
 * - coil_close bumps fd's generation before its close (io/fd.h: the high
 *   half of fd's word). A ring compares the generation it registered under
 *   before each op on a slot, so a new fd of that number never reaches the
 *   old file, even one that another thread opened and handed over.
 * - coil__fixed_closed(fd), after it: if a ring still holds the old file,
 *   bump the epoch and wake every ring with a table; each compares the
 *   epoch at its next turn and drops the slots whose generation moved, so
 *   the file is released (the peer sees the close) promptly.
 *
 * An fd closed with close(2) instead of coil_close bumps nothing: its slot
 * would keep the old file, and a new fd of that number would reach it.
 * That is why the feature is opt-in (coil/runtime.h says so).
 */
#ifndef COIL_IO_FIXED_H
#define COIL_IO_FIXED_H

#include <stdbool.h>
#include <stdint.h>

#include "io/fd.h"

/* fds at or past this number are never registered. */
#define COIL__FIXED_MAX 65536
_Static_assert(COIL__FIXED_MAX <= COIL__FD_WORDS_NEAR, "registered fds have static words");

/* fd's generation (bumped by each coil_close of it), 0 <= fd < MAX. */
static inline uint32_t coil__fixed_gen(int fd)
{
	return coil__fd_gen(fd);
}

/* A ring registered fd / dropped its slot of fd. */
void coil__fixed_hold(int fd);
void coil__fixed_release(int fd);

/* The closes that rings must look at: changes when a closed fd was still
 * held by some ring. */
uint64_t coil__fixed_epoch(void);

/* A ring with a table: wake_fd (an eventfd) is written to when the epoch
 * moves. Returns 0 or -ENOMEM. */
int coil__fixed_ring_add(int wake_fd);
void coil__fixed_ring_remove(int wake_fd);

/* After every close of an fd by coil (io/fd.c). */
void coil__fixed_closed(int fd);

#endif
