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
 *   - An object with a lifetime is an opaque pointer, declared as
 *     typedef struct coil_x coil_x (coil_chan, coil_group, coil_server,
 *     coil_loop...). An object the caller embeds (coil_mutex, coil_scope...)
 *     is a sized struct whose contents are private.
 *   - coil_<object>_try_<verb> never waits: it does it now, or returns
 *     -EAGAIN (coil_mutex_try_lock: -EBUSY, as pthread_mutex_trylock).
 */
#ifndef COIL_H
#define COIL_H

#include "coil/version.h"
#include "coil/config.h"
#include "coil/runtime.h"
#include "coil/task.h"
#include "coil/time.h"
#include "coil/scope.h"
#include "coil/race.h"
#include "coil/fd.h"
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
