/*
 * http_hello: an HTTP/1.1 and HTTP/2 server that answers every request with
 * "Hello, World!" (text/plain), keep-alive; the benchmark's server.
 *
 *   http_hello [--port N] [--host ADDR] [--workers N] [--listen handoff|reuseport]
 *              [--tls CERT KEY]
 *
 * --port 0 (the default) takes a free port. Prints "listening on
 * ADDR:PORT" (flushed) once it accepts connections. --workers N runs N
 * worker threads (0: one per CPU; default 1). SIGINT or SIGTERM shut it
 * down gracefully (idle connections close, requests in flight finish) and
 * it exits 0; it exits 1 with a message when it cannot listen or watch its
 * signals. --tls CERT KEY (PEM files) serves HTTPS instead, h2 or
 * http/1.1 by ALPN; without it, HTTP/1.1 and h2c (HTTP/2 by prior
 * knowledge) on the same port.
 */
#include <coil.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_program.h"
#include "program_args.h"

static int hello(coil_http_request *req, coil_http_response *res, void *ctx)
{
	return coil_http_respond(res, 200, "text/plain", "Hello, World!", 13);
}

static void usage(void)
{
	fprintf(stderr, "usage: http_hello [--port N] [--host ADDR] [--workers N]"
			" [--listen handoff|reuseport] [--tls CERT KEY]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct coil_http_config http;
	coil_http_config_init(&http);
	struct coil_config cfg;
	coil_config_init(&cfg);
	for (int i = 1; i < argc; i++) {
		int taken =
			program_arg_server(argc, argv, &i, &http.port, &http.addr, &cfg.workers);
		if (taken < 0)
			usage();
		if (taken)
			continue;
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "handoff"))
				http.serve_mode = COIL_SERVE_HANDOFF;
			else if (!strcmp(m, "reuseport"))
				http.serve_mode = COIL_SERVE_REUSEPORT;
			else
				usage();
		} else if ((taken = http_program_arg_tls(argc, argv, &i, &http, "http_hello"))) {
			if (taken < 0)
				return 1;
		} else {
			usage();
		}
	}
	int status = http_program_run("http_hello", &http, &cfg, hello, NULL);
	coil_tls_ctx_free(http.tls);
	return status;
}
