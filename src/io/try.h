/*
 * One non-blocking attempt of an op: how the readiness backends
 * (io/compat) run it before and after waiting for readiness. Each is an op
 * table row's try (io/optable.h): it returns the op's result, -EAGAIN (not
 * now: wait for readiness of the fd and try again) or COIL__TRY_POOL.
 *
 * mode is what the backend knows of the fd (COIL__FD_* bits), kept per fd
 * by it; a try may add what it learns.
 */
#ifndef COIL_IO_TRY_H
#define COIL_IO_TRY_H

#include <stdint.h>

#include "io/op.h"

/* The fd is not O_NONBLOCK (a pipe or tty handed to coil): a call that
 * has no per-call non-blocking form would block the worker. */
#define COIL__FD_BLOCKING 1u
/* ...and it refused RWF_NOWAIT once: reads wait for readiness first. */
#define COIL__FD_NO_NOWAIT 2u
/* WASI only: the poller has just reported the fd readable (readiness.c
 * sets it around the retries): the next try of a read trusts that once
 * instead of asking again (try.c: readable_now). */
#define COIL__FD_READABLE 4u
/* Whether the fd, not one of the pool's files, takes offsets was asked
 * (io/offsets.h): with COIL__FD_OFFSETS it does (a character device such
 * as /dev/null), and a positional read or write is tried at its offset;
 * without, it is -ESPIPE before any try. */
#define COIL__FD_OFFSETS_KNOWN 8u
#define COIL__FD_OFFSETS 16u

/* A try's answer besides a result and -EAGAIN: this fd cannot do the op
 * without blocking the worker; the blocking pool does it. */
#define COIL__TRY_POOL (-100000)

/* A try that takes two calls (connect: start, then ask how it ended)
 * marks its op here, in op->be.compat.state (the readiness backends keep
 * their own values below this bit). */
#define COIL__TRY_STARTED 0x80u

int coil__try_nop(struct coil__op *op, uint8_t *mode);
int coil__try_accept(struct coil__op *op, uint8_t *mode);
int coil__try_connect(struct coil__op *op, uint8_t *mode);
int coil__try_recv(struct coil__op *op, uint8_t *mode);
int coil__try_send(struct coil__op *op, uint8_t *mode);
int coil__try_recvmsg(struct coil__op *op, uint8_t *mode);
int coil__try_sendmsg(struct coil__op *op, uint8_t *mode);
/* read, write, readv, writev on an fd that is not a file the pool serves:
 * at op->off where it is >= 0 (only on an fd that takes offsets: the
 * others are refused before), else at the file position. */
int coil__try_stream(struct coil__op *op, uint8_t *mode);
int coil__try_close(struct coil__op *op, uint8_t *mode);
int coil__try_shutdown(struct coil__op *op, uint8_t *mode);
int coil__try_sendfile(struct coil__op *op, uint8_t *mode);
int coil__try_splice(struct coil__op *op, uint8_t *mode);
/* Opens whose path the dentry cache holds (RESOLVE_CACHED), the stat of
 * an open fd: done at once; else COIL__TRY_POOL. */
int coil__try_openat(struct coil__op *op, uint8_t *mode);
int coil__try_openat2(struct coil__op *op, uint8_t *mode);
int coil__try_statx(struct coil__op *op, uint8_t *mode);
int coil__try_poll_out(struct coil__op *op, uint8_t *mode);

#endif
