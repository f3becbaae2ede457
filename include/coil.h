/*
 * coil: completion-based I/O for C on fibers and io_uring.
 *
 * The umbrella header. Every public call is declared in one of the headers
 * below and documented there. Conventions that hold for all of them:
 *   - Calls that can fail return a negative errno value (-EINVAL, -EBADF...)
 *     and never touch the global errno. Counts are returned as >= 0.
 *   - Blocking calls (sleep, accept, read, write...) may only be made from a
 *     fiber running inside coil_run(); elsewhere they return -EPERM.
 *   - Time is int64_t nanoseconds on CLOCK_MONOTONIC.
 */
#ifndef COIL_H
#define COIL_H

#include "coil/version.h"
#include "coil/runtime.h"
#include "coil/task.h"
#include "coil/time.h"
#include "coil/scope.h"
#include "coil/race.h"
#include "coil/net.h"
#include "coil/tls.h"
#include "coil/reader.h"
#include "coil/http.h"
#include "coil/fs.h"
#include "coil/chan.h"
#include "coil/sync.h"
#include "coil/group.h"
#include "coil/select.h"
#include "coil/loop.h"
#include "coil/bg.h"

#endif
