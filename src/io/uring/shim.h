/*
 * What the kernel has and Debian 12's liburing 2.3 does not name: the
 * uapi values coil uses beyond 2.3's headers, each defined only where the
 * installed headers lack it (a newer liburing wins) and each checked
 * against the running kernel before use (the check is named here).
 */
#ifndef COIL_IO_URING_SHIM_H
#define COIL_IO_URING_SHIM_H

#include <liburing.h>

/* Recv bundles (Linux 6.10): sqe->ioprio flag of IORING_OP_RECV. A bundle
 * CQE's res may span several provided buffers: the first is the CQE's
 * buffer id, the rest follow it in buffer-ring order. Checked by
 * IORING_FEAT_RECVSEND_BUNDLE in io_uring_params.features. */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

#endif
