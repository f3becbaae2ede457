/*
 * swarm_node: a gossip node that runs as the main fiber of a coil_bg
 * runtime (coil/bg.h). Used by examples/swarm.c and by the Python binding's
 * test (bindings/python), which loads it as libswarm_node.so.
 *
 * Commands: SWARM_CMD_DIAL (data: a uint16_t port on 127.0.0.1),
 * SWARM_CMD_PUBLISH (data: the message bytes).
 * Events: SWARM_EV_LISTENING (id: its port; result < 0: it could not
 * listen), SWARM_EV_PEER_UP / SWARM_EV_PEER_DOWN (id: the peer's node id;
 * a failed dial is PEER_DOWN with result < 0), SWARM_EV_MESSAGE (id: the
 * message id, data: the bytes) once per message published elsewhere.
 * Wire format, per frame: u32 length of the rest, u64 message id, bytes.
 * A connection starts with each side sending its u64 node id.
 */
#ifndef SWARM_NODE_H
#define SWARM_NODE_H

#include <stdint.h>

#include <coil.h>

enum { SWARM_CMD_DIAL, SWARM_CMD_PUBLISH };
enum { SWARM_EV_LISTENING, SWARM_EV_PEER_UP, SWARM_EV_PEER_DOWN, SWARM_EV_MESSAGE };

struct swarm_node;

/* A node with id 1 .. 2^32-1 (message ids carry it), or NULL. */
struct swarm_node *swarm_node_new(uint64_t id);
/* After its runtime stopped. */
void swarm_node_free(struct swarm_node *n);
/* The main fiber: coil_bg_start(&bg, cfg, cap, swarm_node_main, node). */
void *swarm_node_main(coil_bg *bg, void *node);

#endif
