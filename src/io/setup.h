/*
 * Setting up a worker's I/O layer (io/io.h): the backend choice, and the
 * tear-down of what the layer owns: the backend, the blocking pool (made
 * on first use by io/pool.h's coil__io_pool), the registered buffers and
 * sendfile's spare pipes. The runtime and coil_loop call these.
 */
#ifndef COIL_IO_SETUP_H
#define COIL_IO_SETUP_H

#include "base/config.h"
#include "io/io.h"

/* Choose and set up the backend the config names, else io_uring with the
 * documented fallback to epoll, then poll. Returns 0 or -errno. */
int coil__io_init(struct coil__io *io, struct coil__worker *w, const struct coil__config *cfg);
/* Tear down (no op may be in flight, else the backend and the pool are
 * left as they are: the kernel may still use them). */
void coil__io_fini(struct coil__io *io);

#endif
