/* http_program: see http_program.h. */
#include "http_program.h"

#include <stdio.h>
#include <string.h>

#include "signal_stop.h"

struct program {
	const char *name;
	const struct coil_http_config *http;
	coil_http_handler handler;
	void *ctx;
	struct signal_stop stop;
};

/* SIGINT/SIGTERM cancel this fiber (signal_stop): coil_http_server_run
 * then shuts down gracefully and returns 0. */
static void *serve(void *arg)
{
	struct program *p = arg;
	coil_http_server *s;
	int r = coil_http_server_open(&s, p->http);
	if (r < 0) {
		fprintf(stderr, "%s: listen on %s:%d: %s\n", p->name, p->http->addr,
			p->http->port, strerror(-r));
		return (void *)1;
	}
	if (signal_stop_watch(&p->stop) < 0) {
		coil_http_server_close(s);
		return (void *)1;
	}
	printf("listening on %s:%d\n", p->http->addr, coil_http_server_port(s));
	fflush(stdout);
	r = coil_http_server_run(s, p->handler, p->ctx);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", p->name, strerror(-r));
	signal_stop_end(&p->stop);
	coil_http_server_close(s);
	return r < 0 ? (void *)1 : NULL;
}

int http_program_run(const char *name, const struct coil_http_config *http,
		     const struct coil_config *rt, coil_http_handler handler, void *ctx)
{
	struct program p = {.name = name, .http = http, .handler = handler, .ctx = ctx};
	if (signal_stop_open(&p.stop, name) < 0)
		return 1;
	void *result = NULL;
	int r = coil_run(rt, serve, &p, &result);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", name, strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

int http_program_arg_tls(int argc, char **argv, int *i, struct coil_http_config *http,
			 const char *name)
{
	if (strcmp(argv[*i], "--tls") != 0 || *i + 2 >= argc)
		return 0;
	const char *const alpn[] = {"h2", "http/1.1"};
	coil_tls_ctx_free(http->tls);
	int r = coil_tls_ctx_server(&http->tls, argv[*i + 1], argv[*i + 2]);
	if (r == 0)
		r = http->http2 ? coil_tls_ctx_set_alpn(http->tls, alpn, 2)
				: coil_tls_ctx_set_alpn(http->tls, alpn + 1, 1);
	if (r < 0) {
		fprintf(stderr, "%s: --tls %s %s: %s\n", name, argv[*i + 1], argv[*i + 2],
			strerror(-r));
		coil_tls_ctx_free(http->tls);
		http->tls = NULL;
		return -1;
	}
	*i += 2;
	return 1;
}
