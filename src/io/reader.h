/*
 * Readers (coil/reader.h), over the buffers their worker lends them
 * (io/lend.h).
 *
 * With a buffer ring, a reader's multishot recv (backend->multi_arm,
 * COIL__MULTI_RECV) stays armed and completes many times through
 * coil__reader_cqe: it is not an op (no struct coil__op, no row in
 * io/optable.h), and costs an idle reader no more than the reader itself.
 * Without one, a read waits for data with a 1-byte MSG_PEEK (holding no
 * buffer), then takes a buffer and runs a COIL__OP_RECV into it.
 *
 * An armed multishot is not an op in flight (io->inflight): it counts in
 * the worker's pending only while a fiber waits on its reader, so an idle
 * reader never keeps a worker from seeing a deadlock or from ending; the
 * readers still open when the worker ends are stopped and freed by
 * coil__readers_wind_down, on the worker's thread.
 */
#ifndef COIL_IO_READER_H
#define COIL_IO_READER_H

#include <stdbool.h>
#include <stdint.h>

struct coil__io;
struct coil_reader;

/* A completion of r's multishot recv armed with tag gen (the backend's
 * reap): res bytes in buffer id (when has_buf), or 0 / -errno; more: it
 * stays armed. */
void coil__reader_cqe(struct coil__io *io, struct coil_reader *r, uint16_t gen, int res,
		      bool has_buf, uint32_t id, bool more);

/* r's fd (the backend's count of the requests naming it). */
int coil__reader_fd(const struct coil_reader *r);

/* The worker is ending: stop and free every reader still open, then the
 * buffers. Runs on the worker's thread after its last turn; polls the
 * backend until every multishot has ended. */
void coil__readers_wind_down(struct coil__io *io);

#endif
