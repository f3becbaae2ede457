/*
 * swarm: a gossip node on a background coil runtime (coil/bg.h), the shape
 * of a peer-to-peer node whose swarm runs behind command and event queues.
 *
 * Each node is a coil_bg runtime with a TCP listener on 127.0.0.1. The
 * embedding thread submits commands and reads events:
 *   commands  DIAL (a port: connect to that node), PUBLISH (bytes)
 *   events    LISTENING (id = port), PEER_UP / PEER_DOWN (id = the peer's
 *             node id), MESSAGE (id = message id, data = bytes)
 * A message published anywhere reaches every node once: a node that sees a
 * message for the first time emits it and forwards it to its other peers.
 * Wire format, per frame: u32 length of the rest, u64 message id, bytes.
 * A connection starts with each side sending its u64 node id.
 *
 *   swarm [--nodes N] [--messages M]
 *
 * Starts N nodes in this process (default 3) in a line (node i dials node
 * i+1, so messages must be forwarded), waits until every link is up,
 * publishes M messages from the first and M from the last node, checks
 * that every node got every message it did not publish exactly once,
 * stops the nodes and checks each ends with CLOSED and no fd is left
 * open. Prints "swarm: ok ..." and exits 0, else says what failed, exit 1.
 */
#define _GNU_SOURCE
#include <coil.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CMD_DIAL, CMD_PUBLISH };
enum { EV_LISTENING, EV_PEER_UP, EV_PEER_DOWN, EV_MESSAGE };

#define MAX_PEERS 16
#define SEEN_SLOTS 4096 /* open addressing; a node sees fewer messages */
#define MAX_FRAME 65536

/* ---- a node (all of it on its runtime's one worker: no locks) ------------- */

struct peer {
	struct node *n;
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

struct node {
	coil_bg *bg;
	uint64_t id;
	uint64_t seq;
	struct peer *peers[MAX_PEERS];
	uint64_t seen[SEEN_SLOTS];	/* message ids (0: empty) */
};

/* Whether msg was new (then it is remembered). */
static bool first_sight(struct node *n, uint64_t msg)
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
static void forward(struct node *n, struct peer *except, uint64_t msg, const void *data,
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
	struct node *n = p->n;
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
	coil_bg_emit(n->bg, EV_PEER_UP, 0, p->id, NULL, 0);
	for (;;) {
		uint32_t len;
		if (coil_sock_read_exact(p->fd, &len, 4) < 0 || len < 8 || len > MAX_FRAME)
			break;
		uint64_t msg;
		if (coil_sock_read_exact(p->fd, &msg, 8) < 0 ||
		    coil_sock_read_exact(p->fd, buf, len - 8) < 0)
			break;
		if (first_sight(n, msg)) {
			coil_bg_emit(n->bg, EV_MESSAGE, 0, msg, buf, len - 8);
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
		coil_bg_emit(n->bg, EV_PEER_DOWN, 0, p->id, NULL, 0);
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

static void start_peer(struct node *n, int fd)
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
	struct node *n = ((void **)arg)[0];
	int lfd = (int)(intptr_t)((void **)arg)[1];
	int fd;
	while ((fd = coil_tcp_accept(lfd, NULL, NULL)) >= 0)
		start_peer(n, fd);
	return NULL;
}

static void *dialer(void *arg)
{
	struct node *n = ((void **)arg)[0];
	uint16_t port = (uint16_t)(uintptr_t)((void **)arg)[1];
	free(arg);
	int fd = coil_tcp_connect("127.0.0.1", port);
	if (fd < 0)
		coil_bg_emit(n->bg, EV_PEER_DOWN, fd, 0, NULL, 0); /* the dial failed */
	else
		start_peer(n, fd);
	return NULL;
}

/* The node's main fiber: listen, then serve commands until stopped. */
static void *node_main(coil_bg *bg, void *arg)
{
	struct node *n = arg;
	n->bg = bg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 64, 0);
	if (lfd < 0) {
		coil_bg_emit(bg, EV_LISTENING, lfd, 0, NULL, 0);
		return NULL;
	}
	void *acc[2] = {n, (void *)(intptr_t)lfd};
	coil_task acc_task;
	if (coil_task_spawn(&acc_task, acceptor, acc) < 0) {
		coil_close(lfd);
		return NULL;
	}
	coil_bg_emit(bg, EV_LISTENING, 0, (uint64_t)coil_sock_port(lfd), NULL, 0);
	struct coil_bg_command *c;
	while (coil_bg_recv(bg, &c) == 0) {
		if (c->kind == CMD_DIAL && c->len == sizeof(uint16_t)) {
			void **d = malloc(2 * sizeof *d);
			uint16_t port;
			memcpy(&port, c->data, sizeof port);
			if (d) {
				d[0] = n;
				d[1] = (void *)(uintptr_t)port;
				if (coil_task_spawn(NULL, dialer, d) < 0)
					free(d);
			}
		} else if (c->kind == CMD_PUBLISH) {
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

/* ---- the embedding thread ----------------------------------------------------- */

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct view {
	struct node node;
	coil_bg *bg;
	uint16_t port;
	int peers_up;
	long got;			/* messages received */
	uint64_t *ids;			/* received message ids */
	bool closed;
	int closed_result;
};

/* Take every waiting event of v. */
static int take_events(struct view *v, long max_ids)
{
	struct coil_bg_event *ev;
	int r;
	while ((r = coil_bg_try_next_event(v->bg, &ev)) == 0) {
		switch (ev->kind) {
		case EV_LISTENING:
			if (ev->result < 0) {
				fprintf(stderr, "swarm: listen: %s\n", strerror(-ev->result));
				return -1;
			}
			v->port = (uint16_t)ev->id;
			break;
		case EV_PEER_UP:
			v->peers_up++;
			break;
		case EV_PEER_DOWN:
			if (ev->result < 0) {
				fprintf(stderr, "swarm: dial: %s\n", strerror(-ev->result));
				return -1;
			}
			v->peers_up--;
			break;
		case EV_MESSAGE:
			if (v->got < max_ids)
				v->ids[v->got] = ev->id;
			v->got++;
			break;
		case COIL_BG_CLOSED:
			v->closed = true;
			v->closed_result = ev->result;
			break;
		}
		coil_bg_event_free(ev);
	}
	return 0;
}

/* Wait (poll on every node's event fd) until done(views) or 10 s. (An
 * event fd may read ready a moment before its event can be taken: the
 * emitter counts it first; so the limit is time, not rounds.) */
static bool wait_for(struct view *v, int nodes, long max_ids, bool (*done)(struct view *, int))
{
	int64_t end = coil_now() + 10 * 1000000000LL;
	while (coil_now() < end) {
		for (int i = 0; i < nodes; i++)
			if (take_events(&v[i], max_ids) < 0)
				return false;
		if (done(v, nodes))
			return true;
		struct pollfd fds[MAX_PEERS];
		for (int i = 0; i < nodes; i++)
			fds[i] = (struct pollfd){.fd = coil_bg_event_fd(v[i].bg), .events = POLLIN};
		poll(fds, (nfds_t)nodes, 10);
	}
	return false;
}

static bool all_listening(struct view *v, int n)
{
	for (int i = 0; i < n; i++)
		if (!v[i].port)
			return false;
	return true;
}

static bool links_up(struct view *v, int n)
{
	for (int i = 0; i < n; i++)
		if (v[i].peers_up != (i == 0 || i == n - 1 ? 1 : 2))
			return false;
	return true;
}

static long expect_msgs;

static bool all_delivered(struct view *v, int n)
{
	for (int i = 0; i < n; i++)
		if (v[i].got < expect_msgs)
			return false;
	return true;
}

int main(int argc, char **argv)
{
	int nodes = 3;
	long messages = 100;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
			nodes = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			messages = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: swarm [--nodes N] [--messages M]\n");
			return 2;
		}
	}
	if (nodes < 2 || nodes > MAX_PEERS || messages < 1 || messages > 1000)
		return 2;
	int fds_before = count_fds();
	struct view *v = calloc((size_t)nodes, sizeof *v);
	long max_ids = 2 * messages;
	for (int i = 0; i < nodes; i++) {
		v[i].node.id = (uint64_t)i + 1;
		v[i].ids = calloc((size_t)max_ids, sizeof(uint64_t));
		int r = coil_bg_start(&v[i].bg, NULL, 256, node_main, &v[i].node);
		if (r < 0) {
			fprintf(stderr, "swarm: coil_bg_start: %s\n", strerror(-r));
			return 1;
		}
	}
	if (!wait_for(v, nodes, max_ids, all_listening)) {
		fprintf(stderr, "swarm: nodes did not listen\n");
		return 1;
	}
	for (int i = 0; i + 1 < nodes; i++) {
		uint16_t port = v[i + 1].port;
		coil_bg_submit(v[i].bg, CMD_DIAL, 0, &port, sizeof port, COIL_NO_DEADLINE);
	}
	if (!wait_for(v, nodes, max_ids, links_up)) {
		fprintf(stderr, "swarm: the links did not come up (peers up:");
		for (int i = 0; i < nodes; i++)
			fprintf(stderr, " %d", v[i].peers_up);
		fprintf(stderr, ")\n");
		return 1;
	}
	for (long m = 0; m < messages; m++) {
		char text[64];
		int len = snprintf(text, sizeof text, "message %ld", m);
		coil_bg_submit(v[0].bg, CMD_PUBLISH, 0, text, (size_t)len, COIL_NO_DEADLINE);
		coil_bg_submit(v[nodes - 1].bg, CMD_PUBLISH, 0, text, (size_t)len, COIL_NO_DEADLINE);
	}
	/* Every node gets the other end's messages; the middle ones both. */
	expect_msgs = messages;
	bool ok = wait_for(v, nodes, max_ids, all_delivered);
	if (!ok)
	{
		fprintf(stderr, "swarm: not every message arrived within 10 s (got:");
		for (int i = 0; i < nodes; i++)
			fprintf(stderr, " %ld", v[i].got);
		fprintf(stderr, ")\n");
	}
	usleep(50000); /* a duplicate would come now */
	for (int i = 0; i < nodes; i++)
		take_events(&v[i], max_ids);
	for (int i = 0; i < nodes && ok; i++) {
		long want = i == 0 || i == nodes - 1 ? messages : 2 * messages;
		if (v[i].got != want) {
			fprintf(stderr, "swarm: node %d got %ld messages, not %ld\n", i, v[i].got, want);
			ok = false;
		}
		for (long a = 0; a < v[i].got && a < max_ids && ok; a++)
			for (long b = a + 1; b < v[i].got && b < max_ids; b++)
				if (v[i].ids[a] == v[i].ids[b]) {
					fprintf(stderr, "swarm: node %d got a message twice\n", i);
					ok = false;
					break;
				}
	}
	for (int i = 0; i < nodes; i++) {
		int r = coil_bg_stop(v[i].bg);
		take_events(&v[i], max_ids);
		if (r < 0 || !v[i].closed || v[i].closed_result != 0) {
			fprintf(stderr, "swarm: node %d stop: %d, closed %d (%d)\n", i, r, v[i].closed,
				v[i].closed_result);
			ok = false;
		}
		coil_bg_free(v[i].bg);
		free(v[i].ids);
	}
	free(v);
	int fds_after = count_fds();
	if (fds_after != fds_before) {
		fprintf(stderr, "swarm: %d fds open before, %d after\n", fds_before, fds_after);
		ok = false;
	}
	if (!ok) {
		fprintf(stderr, "swarm: failed\n");
		return 1;
	}
	printf("swarm: ok, %d nodes, %ld messages from each end, each delivered once\n", nodes,
	       messages);
	return 0;
}
