/*
 * http_program: what the HTTP examples share as programs: run a
 * coil_http server on coil_run, print "listening on ADDR:PORT" (flushed)
 * once it accepts, and shut it down gracefully on SIGINT or SIGTERM.
 */
#ifndef COIL_EXAMPLES_HTTP_PROGRAM_H
#define COIL_EXAMPLES_HTTP_PROGRAM_H

#include <coil.h>

/*
 * Serve with handler(ctx) as http and rt say until SIGINT or SIGTERM, then
 * drain (coil_http_server_run's graceful shutdown). name prefixes the
 * messages on stderr. Returns the process's exit status: 0 after a
 * signal, 1 when it could not listen, watch its signals or run.
 */
int http_program_run(const char *name, const struct coil_http_config *http,
		     const struct coil_config *rt, coil_http_handler handler, void *ctx);

#endif
