/*
 * program_args: what the example programs share on their command lines
 * (--port, --host, --workers; a time in milliseconds; HOST:PORT) and as
 * processes (as many descriptors as the system lets them have). A value
 * they cannot take is reported to the caller, which prints its usage.
 */
#ifndef PROGRAM_ARGS_H
#define PROGRAM_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The options every example server takes, at argv[*i]: --port N (0: a
 * free one), --host ADDR, --workers N (0: one per CPU). Returns 1 when it
 * took one (*i left on its value), 0 when argv[*i] is none of them, -1
 * for a bad or missing value. */
int program_arg_server(int argc, char **argv, int *i, uint16_t *port, const char **host,
		       unsigned *workers);

/* A count of milliseconds, at least min, as nanoseconds in *ns. */
bool program_arg_msec(const char *s, long min, int64_t *ns);

/* HOST:PORT or [V6]:PORT with PORT 1 to 65535: the host NUL-terminated in
 * host (cap bytes, the NUL included), the port in *port. */
bool program_arg_host_port(const char *s, char *host, size_t cap, uint16_t *port);

/* Raise the soft limit of open descriptors to the hard one, as nginx's
 * worker_rlimit_nofile does: a proxy holds two per client. Left as it is
 * when that fails. */
void program_raise_nofile(void);

#endif
