/*
 * Ops done the blocking way, on the calling thread: what the blocking pool
 * (io/pool.h) runs. Each is an op table row's blocking function
 * (io/optable.h) and returns what the op would complete with: >= 0 or
 * -errno.
 */
#ifndef COIL_IO_BLOCKING_H
#define COIL_IO_BLOCKING_H

#include "io/op.h"

int coil__blocking_nop(struct coil__op *op);
int coil__blocking_read(struct coil__op *op);
int coil__blocking_write(struct coil__op *op);
int coil__blocking_readv(struct coil__op *op);
int coil__blocking_writev(struct coil__op *op);
int coil__blocking_openat(struct coil__op *op);
int coil__blocking_openat2(struct coil__op *op);
int coil__blocking_fsync(struct coil__op *op);
int coil__blocking_statx(struct coil__op *op);
int coil__blocking_close(struct coil__op *op);
int coil__blocking_resolve(struct coil__op *op);
int coil__blocking_sendfile(struct coil__op *op);

#endif
