/*
 * nghttp2 out of memory, for the HTTP/2 suites (white-box: the allocator
 * hook of src/http/h2_common.h). The sessions of the side routed here
 * allocate through a counter, and the allocation numbered k since
 * h2_fail_arm(k) fails, once: a test sweeps k over every allocation an
 * exchange makes.
 */
#ifndef COIL_TEST_H2_FAIL_H
#define COIL_TEST_H2_FAIL_H

#include <stdbool.h>

/* The sessions opened from now on, the server's (server) or the
 * client's, allocate through the counter; none fails until armed. */
void h2_fail_route(bool server);

/* Both sides on nghttp2's own allocator again. */
void h2_fail_unroute(void);

/* Count from 0 again; the allocation numbered k fails (-1: none). */
void h2_fail_arm(long k);

/* The allocations counted since the last arm, the failed one too. */
long h2_fail_count(void);

/* The allocations of a session's set-up on a side routed here (none
 * failing): the session, its SETTINGS, its window, as the server and the
 * client open theirs (coil__h2_session_open). Disarms. */
long h2_fail_setup(bool server);

#endif
