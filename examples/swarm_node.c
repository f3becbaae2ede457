/*
 * A gossip node (see swarm_node.h): fibers of one coil_bg runtime.
 */
#define _GNU_SOURCE
#include "swarm_node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


#define MAX_PEERS 16
#define SEEN_SLOTS 4096 /* open addressing; a node sees fewer messages */
#define MAX_FRAME 65536

/* ---- a node (all of it on its runtime's one worker: no locks) ------------- */

struct peer {
	struct swarm_node *n;
	int fd;
	uint64_t id;		/* the peer's node id */
	coil_chan *out;		/* frames to write (struct frame *) */
	bool up;
};

struct frame {
	uint64_t msg;
	size_t len;
	char data[];
};

struct swarm_node {
	coil_bg *bg;
	uint64_t id;
	uint64_t seq;
	struct peer *peers[MAX_PEERS];
	uint64_t seen[SEEN_SLOTS];	/* message ids (0: empty) */
};

/* Whether msg was new (then it is remembered). */
static bool first_sight(struct swarm_node *n, uint64_t msg)
{
	size_t i = (size_t)(msg * 0x9e3779b97f4a7c15ull) % SEEN_SLOTS;
	for (size_t k = 0; k < SEEN_SLOTS; k++, i = (i + 1) % SEEN_SLOTS) {
		if (n->seen[i] == msg)
			return false;
		if (n->seen[i] == 0) {
			n->seen[i] = msg;
			return true;
		}
	}
	return false; /* full: treat as seen (never happens at this size) */
}

/* Queue a frame to every peer that is up, but `except`. */
static void forward(struct swarm_node *n, struct peer *except, uint64_t msg, const void *data,
		    size_t len)
{
	for (int i = 0; i < MAX_PEERS; i++) {
		struct peer *p = n->peers[i];
		if (!p || p == except || !p->up)
			continue;
		struct frame *f = malloc(sizeof *f + len);
		if (!f)
			continue;
		f->msg = msg;
		f->len = len;
		memcpy(f->data, data, len);
		if (coil_chan_send(p->out, &f) < 0)
			free(f);
	}
}

static void *peer_writer(void *arg)
{
	struct peer *p = arg;
	struct frame *f;
	while (coil_chan_recv(p->out, &f) == 0) {
		uint32_t len = (uint32_t)(sizeof f->msg + f->len);
		char hdr[12];
		memcpy(hdr, &len, 4);
		memcpy(hdr + 4, &f->msg, 8);
		bool ok = coil_sock_write_all(p->fd, hdr, sizeof hdr) >= 0 &&
			  coil_sock_write_all(p->fd, f->data, f->len) >= 0;
		free(f);
		if (!ok)
			break;
	}
	coil_sock_shutdown(p->fd, SHUT_RDWR); /* the reader sees the end */
	return NULL;
}

/* A connection, either way: exchange node ids, then read frames until the
 * end; a writer fiber drains p->out. */
static void *peer_conn(void *arg)
{
	struct peer *p = arg;
	struct swarm_node *n = p->n;
	int slot = -1;
	char *buf = malloc(MAX_FRAME);
	coil_task writer = 0;
	if (!buf || coil_chan_new(&p->out, sizeof(struct frame *), 64) < 0)
		goto out;
	if (coil_sock_write_all(p->fd, &n->id, sizeof n->id) < 0 ||
	    coil_sock_read_exact(p->fd, &p->id, sizeof p->id) < 0)
		goto out;
	for (int i = 0; i < MAX_PEERS && slot < 0; i++)
		if (!n->peers[i])
			slot = i;
	if (slot < 0)
		goto out;
	n->peers[slot] = p;
	p->up = true;
	if (coil_task_spawn(&writer, peer_writer, p) < 0)
		goto out;
	coil_bg_emit(n->bg, SWARM_EV_PEER_UP, 0, p->id, NULL, 0);
	for (;;) {
		uint32_t len;
		if (coil_sock_read_exact(p->fd, &len, 4) < 0 || len < 8 || len > MAX_FRAME)
			break;
		uint64_t msg;
		if (coil_sock_read_exact(p->fd, &msg, 8) < 0 ||
		    coil_sock_read_exact(p->fd, buf, len - 8) < 0)
			break;
		if (first_sight(n, msg)) {
			coil_bg_emit(n->bg, SWARM_EV_MESSAGE, 0, msg, buf, len - 8);
			forward(n, p, msg, buf, len - 8);
		}
	}
out:;
	/* Clean-up runs shielded: when the node stops, this fiber is
	 * cancelled, and the join below must still wait for the writer. */
	coil_scope shield;
	coil_scope_enter_shielded(&shield, COIL_NO_DEADLINE);
	if (slot >= 0) {
		n->peers[slot] = NULL;
		p->up = false;
		coil_bg_emit(n->bg, SWARM_EV_PEER_DOWN, 0, p->id, NULL, 0);
	}
	if (p->out) {
		coil_chan_close(p->out);
		if (writer)
			coil_task_join(writer, NULL);
		struct frame *f;
		while (coil_chan_try_recv(p->out, &f) == 0)
			free(f);
		coil_chan_free(p->out);
	}
	coil_close(p->fd);
	coil_scope_exit(&shield);
	free(buf);
	free(p);
	return NULL;
}

static void start_peer(struct swarm_node *n, int fd)
{
	struct peer *p = calloc(1, sizeof *p);
	if (p) {
		p->n = n;
		p->fd = fd;
	}
	if (!p || coil_task_spawn(NULL, peer_conn, p) < 0) {
		free(p);
		coil_close(fd);
	}
}

static void *acceptor(void *arg)
{
	struct swarm_node *n = ((void **)arg)[0];
	int lfd = (int)(intptr_t)((void **)arg)[1];
	int fd;
	while ((fd = coil_tcp_accept(lfd, NULL, NULL)) >= 0)
		start_peer(n, fd);
	return NULL;
}

static void *dialer(void *arg)
{
	struct swarm_node *n = ((void **)arg)[0];
	uint16_t port = (uint16_t)(uintptr_t)((void **)arg)[1];
	free(arg);
	int fd = coil_tcp_connect("127.0.0.1", port);
	if (fd < 0)
		coil_bg_emit(n->bg, SWARM_EV_PEER_DOWN, fd, 0, NULL, 0); /* the dial failed */
	else
		start_peer(n, fd);
	return NULL;
}

/* The node's main fiber: listen, then serve commands until stopped. */
void *swarm_node_main(coil_bg *bg, void *arg)
{
	struct swarm_node *n = arg;
	n->bg = bg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 64, 0);
	if (lfd < 0) {
		coil_bg_emit(bg, SWARM_EV_LISTENING, lfd, 0, NULL, 0);
		return NULL;
	}
	void *acc[2] = {n, (void *)(intptr_t)lfd};
	coil_task acc_task;
	if (coil_task_spawn(&acc_task, acceptor, acc) < 0) {
		coil_close(lfd);
		return NULL;
	}
	coil_bg_emit(bg, SWARM_EV_LISTENING, 0, (uint64_t)coil_sock_port(lfd), NULL, 0);
	struct coil_bg_command *c;
	while (coil_bg_recv(bg, &c) == 0) {
		if (c->kind == SWARM_CMD_DIAL && c->len == sizeof(uint16_t)) {
			void **d = malloc(2 * sizeof *d);
			uint16_t port;
			memcpy(&port, c->data, sizeof port);
			if (d) {
				d[0] = n;
				d[1] = (void *)(uintptr_t)port;
				if (coil_task_spawn(NULL, dialer, d) < 0)
					free(d);
			}
		} else if (c->kind == SWARM_CMD_PUBLISH) {
			uint64_t msg = n->id << 32 | ++n->seq;
			first_sight(n, msg);
			forward(n, NULL, msg, c->data, c->len);
		}
		coil_bg_command_free(c);
	}
	/* Stopping: the runtime cancels the acceptor, the peers and their
	 * writers when main returns; the listener goes with the acceptor. */
	coil_task_cancel(acc_task);
	coil_task_join(acc_task, NULL);
	coil_close(lfd);
	return NULL;
}


struct swarm_node *swarm_node_new(uint64_t id)
{
	if (id == 0 || id > UINT32_MAX)
		return NULL;
	struct swarm_node *n = calloc(1, sizeof *n);
	if (n)
		n->id = id;
	return n;
}

void swarm_node_free(struct swarm_node *n)
{
	free(n);
}
