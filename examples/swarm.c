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

#include "swarm_node.h"

#define MAX_NODES 16

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
	struct swarm_node *node;
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
		case SWARM_EV_LISTENING:
			if (ev->result < 0) {
				fprintf(stderr, "swarm: listen: %s\n", strerror(-ev->result));
				return -1;
			}
			v->port = (uint16_t)ev->id;
			break;
		case SWARM_EV_PEER_UP:
			v->peers_up++;
			break;
		case SWARM_EV_PEER_DOWN:
			if (ev->result < 0) {
				fprintf(stderr, "swarm: dial: %s\n", strerror(-ev->result));
				return -1;
			}
			v->peers_up--;
			break;
		case SWARM_EV_MESSAGE:
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

/* Wait (poll on every node's event fd) until done(views) or 10 s. */
static bool wait_for(struct view *v, int nodes, long max_ids, bool (*done)(struct view *, int))
{
	int64_t end = coil_now() + 10 * 1000000000LL;
	while (coil_now() < end) {
		for (int i = 0; i < nodes; i++)
			if (take_events(&v[i], max_ids) < 0)
				return false;
		if (done(v, nodes))
			return true;
		struct pollfd fds[MAX_NODES];
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
	if (nodes < 2 || nodes > MAX_NODES || messages < 1 || messages > 1000)
		return 2;
	int fds_before = count_fds();
	struct view *v = calloc((size_t)nodes, sizeof *v);
	long max_ids = 2 * messages;
	for (int i = 0; i < nodes; i++) {
		v[i].node = swarm_node_new((uint64_t)i + 1);
		v[i].ids = calloc((size_t)max_ids, sizeof(uint64_t));
		int r = coil_bg_start(&v[i].bg, NULL, 256, swarm_node_main, v[i].node);
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
		coil_bg_submit(v[i].bg, SWARM_CMD_DIAL, 0, &port, sizeof port, COIL_NO_DEADLINE);
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
		coil_bg_submit(v[0].bg, SWARM_CMD_PUBLISH, 0, text, (size_t)len, COIL_NO_DEADLINE);
		coil_bg_submit(v[nodes - 1].bg, SWARM_CMD_PUBLISH, 0, text, (size_t)len, COIL_NO_DEADLINE);
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
		swarm_node_free(v[i].node);
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
