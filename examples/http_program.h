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

/*
 * "--tls CERT KEY" at argv[*i]: make http->tls a server context from the
 * PEM files, offering "h2" then "http/1.1" by ALPN (only "http/1.1" when
 * http->http2 is 0), and step *i past it. Returns 1 (taken), 0 (argv[*i]
 * is not --tls), -1 (the files are unusable: said on stderr after name).
 * Free http->tls with coil_tls_ctx_free after the run.
 */
int http_program_arg_tls(int argc, char **argv, int *i, struct coil_http_config *http,
			 const char *name);

#endif
