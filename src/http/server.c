/*
 * An HTTP/1.1 server over coil_server (coil/net.h): see coil/http.h.
 *
 * Each accepted connection runs coil__http_conn_serve (conn.c) in its own
 * fiber on the worker it went to. This file keeps what the connections
 * share: the settings, the handler, and a registry of live connections for
 * the graceful shutdown: stop accepting, end the connections that wait
 * between requests (their idle scope is cancelled), let the others finish
 * the request in flight, cancel what is left after shutdown_timeout.
 */
#include "coil/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coil.h"
#include "http/conn.h"
#include "http/h2.h"
#include "sched/scope.h"

struct coil_http_server {
	struct coil_http_config cfg;
	char addr[64];
	coil_server *net;	/* NULL once a run has closed the listeners */
	int port;
	int close_result;	/* of the listeners' close at the end of a run */
	coil_http_handler handler;
	void *ctx;
	bool running;
	/* The registry: live connections on every worker. The lock is held
	 * for a few instructions, never across a wait. */
	pthread_mutex_t lock;
	struct coil__http_conn *conns;
	unsigned nconns;	/* in the registry (written under lock) */
	bool draining;		/* written under lock; read without it too */
	coil_wg live;		/* connections in the registry */
};

void coil_http_config_init(struct coil_http_config *cfg)
{
	if (!cfg)
		return;
	*cfg = (struct coil_http_config){
		.addr = "127.0.0.1",
		.port = 0,
		.backlog = 1024,
		.serve_mode = COIL_SERVE_HANDOFF,
		.max_head = 16 * 1024,
		.max_fields = 100,
		.max_target = 8 * 1024,
		.max_chunk_ext = 4 * 1024,
		.max_body = 1024 * 1024,
		.head_timeout = 10 * COIL_NSEC_PER_SEC,
		.io_timeout = 60 * COIL_NSEC_PER_SEC,
		.idle_timeout = 75 * COIL_NSEC_PER_SEC,
		.shutdown_timeout = 10 * COIL_NSEC_PER_SEC,
		.linger_timeout = 2 * COIL_NSEC_PER_SEC,
		.max_requests = 1000,
		.max_drain = 64 * 1024,
		.http2 = 1,
		.h2_max_streams = 100,
	};
}

int coil_http_server_open(coil_http_server **out, const struct coil_http_config *cfg)
{
	if (!out)
		return -EINVAL;
	struct coil_http_config def;
	if (!cfg) {
		coil_http_config_init(&def);
		cfg = &def;
	}
	if ((cfg->serve_mode != COIL_SERVE_HANDOFF && cfg->serve_mode != COIL_SERVE_REUSEPORT) ||
	    cfg->max_head < 256 || cfg->max_head > (64u << 20) || cfg->max_fields == 0 ||
	    cfg->max_fields > 65536 || cfg->max_target == 0 || cfg->max_requests == 0 ||
	    (cfg->http2 && (cfg->h2_max_streams == 0 || cfg->h2_max_streams > 65536)) ||
	    !cfg->addr || strlen(cfg->addr) >= sizeof((struct coil_http_server *)0)->addr)
		return -EINVAL;
	if (!coil_task_current())
		return -EPERM;
	struct coil_http_server *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	strcpy(s->addr, cfg->addr);
	s->cfg.addr = s->addr;
	int r = coil_server_open(&s->net, s->addr, cfg->port, cfg->backlog, cfg->serve_mode);
	if (r < 0) {
		free(s);
		return r;
	}
	s->port = coil_server_port(s->net);
	pthread_mutex_init(&s->lock, NULL);
	coil_wg_init(&s->live);
	*out = s;
	return 0;
}

int coil_http_server_port(const coil_http_server *s)
{
	return s ? s->port : -EINVAL;
}

int coil_http_server_close(coil_http_server *s)
{
	if (!s)
		return 0;
	int r = s->net ? coil_server_close(s->net) : s->close_result;
	pthread_mutex_destroy(&s->lock);
	free(s);
	return r;
}

unsigned coil_http_server_connections(const coil_http_server *s)
{
	return s ? __atomic_load_n(&s->nconns, __ATOMIC_RELAXED) : 0;
}

const struct coil_http_config *coil__http_server_config(const struct coil_http_server *srv)
{
	return &srv->cfg;
}

bool coil__http_server_draining(const struct coil_http_server *srv)
{
	return __atomic_load_n(&srv->draining, __ATOMIC_RELAXED);
}

int coil__http_server_handle(struct coil_http_server *srv, coil_http_request *req,
			     coil_http_response *res)
{
	return srv->handler(req, res, srv->ctx);
}

bool coil__http_server_enter(struct coil_http_server *srv, struct coil__http_conn *c)
{
	pthread_mutex_lock(&srv->lock);
	bool ok = !srv->draining;
	if (ok) {
		c->prev = NULL;
		c->next = srv->conns;
		if (c->next)
			c->next->prev = c;
		srv->conns = c;
		__atomic_store_n(&srv->nconns, srv->nconns + 1, __ATOMIC_RELAXED);
		coil_wg_add(&srv->live, 1);
	}
	pthread_mutex_unlock(&srv->lock);
	return ok;
}

void coil__http_server_leave(struct coil_http_server *srv, struct coil__http_conn *c)
{
	pthread_mutex_lock(&srv->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	__atomic_store_n(&srv->nconns, srv->nconns - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&srv->lock);
	/* Last: once the count is 0 the server may be freed (after the
	 * barrier in coil_http_server_run, which waits for this call to
	 * have returned). */
	coil_wg_done(&srv->live);
}

void coil__http_server_h2(struct coil_http_server *srv, struct coil__http_conn *c,
			  struct coil__h2_conn *h)
{
	pthread_mutex_lock(&srv->lock);
	c->h2 = h;
	pthread_mutex_unlock(&srv->lock);
}

ssize_t coil__http_server_idle_wait(struct coil_http_server *srv, struct coil__http_conn *c,
				    int64_t deadline)
{
	/* The scope is entered and left under the lock, so that the shutdown
	 * cancels it only while it is entered. */
	pthread_mutex_lock(&srv->lock);
	if (srv->draining) {
		pthread_mutex_unlock(&srv->lock);
		return 0;
	}
	coil_scope_enter(&c->idle, deadline);
	c->idle_in = true;
	pthread_mutex_unlock(&srv->lock);
	ssize_t n = coil__http_conn_fill(c);
	pthread_mutex_lock(&srv->lock);
	c->idle_in = false;
	coil__scope_leave(&c->idle);
	pthread_mutex_unlock(&srv->lock);
	return n;
}

static void serve(int fd, void *ctx)
{
	coil__http_conn_serve(ctx, fd);
}

static void *nothing(void *arg)
{
	return arg;
}

/* A connection coil_server handed out just before it stopped may not have
 * started yet. A worker runs the fibers given to it in the order they came
 * (its run queue and its inbox are FIFO), so once a fiber spawned on each
 * worker now has run, every such connection has entered the registry (it
 * does so before it first waits) or seen the shutdown. */
static void barrier(void)
{
	unsigned n = (unsigned)coil_worker_count();
	for (unsigned i = 0; i < n; i++) {
		coil_task t;
		if (coil_task_spawn_on(i, &t, nothing, NULL) == 0)
			coil_task_join(t, NULL);
	}
}

int coil_http_server_run(coil_http_server *s, coil_http_handler handler, void *ctx)
{
	if (!s || !handler)
		return -EINVAL;
	if (!coil_task_current())
		return -EPERM;
	if (s->running)
		return -EBUSY;
	if (!s->net)
		return -EBADF;
	s->running = true;
	s->handler = handler;
	s->ctx = ctx;
	s->draining = false;
	int r = coil_server_run(s->net, serve, s);
	/* Stop accepting for good: with the listeners closed now, a client
	 * that connects during the drain is refused at once instead of
	 * waiting in a backlog nobody accepts from, to be reset at the end. */
	s->close_result = coil_server_close(s->net);
	s->net = NULL;

	/* Shut down: shielded (this task was cancelled), bounded. */
	coil_scope grace;
	int64_t deadline = s->cfg.shutdown_timeout > 0 ? coil_now() + s->cfg.shutdown_timeout
						       : COIL_NO_DEADLINE;
	coil_scope_enter_shielded(&grace, deadline);
	barrier();
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->draining, true, __ATOMIC_RELAXED);
	for (struct coil__http_conn *c = s->conns; c; c = c->next) {
		if (c->h2)
			coil__h2_drain(c->h2);
		else if (c->idle_in)
			coil_scope_cancel(&c->idle);
	}
	pthread_mutex_unlock(&s->lock);
	int w = coil_wg_wait(&s->live);
	coil__scope_leave(&grace);
	if (w != 0) {
		/* Past the deadline: cancel the requests still in flight and
		 * wait for their fibers (each ends at its next blocking call). */
		pthread_mutex_lock(&s->lock);
		for (struct coil__http_conn *c = s->conns; c; c = c->next)
			coil_task_cancel(c->task);
		pthread_mutex_unlock(&s->lock);
		coil_scope_enter_shielded(&grace, COIL_NO_DEADLINE);
		coil_wg_wait(&s->live);
		coil__scope_leave(&grace);
	}
	/* The last coil_wg_done may still be returning on its worker. */
	coil_scope_enter_shielded(&grace, COIL_NO_DEADLINE);
	barrier();
	coil__scope_leave(&grace);
	s->running = false;
	return r == -ECANCELED ? 0 : r;
}

int coil_http_serve(const struct coil_http_config *cfg, coil_http_handler handler, void *ctx)
{
	if (!handler)
		return -EINVAL;
	coil_http_server *s;
	int r = coil_http_server_open(&s, cfg);
	if (r < 0)
		return r;
	r = coil_http_server_run(s, handler, ctx);
	coil_http_server_close(s);
	return r;
}
