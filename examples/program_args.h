/*
 * program_args: what the example programs share on their command lines
 * (a port, a time in milliseconds, HOST:PORT) and as processes (as many
 * descriptors as the system lets them have). Each parser returns false
 * for a value it cannot take, and the program prints its usage.
 */
#ifndef PROGRAM_ARGS_H
#define PROGRAM_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A port to listen on: 0 to 65535 (0: a free one). */
bool program_arg_port(const char *s, uint16_t *port);

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
