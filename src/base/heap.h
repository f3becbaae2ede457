/*
 * The one indexed min-heap: nodes keyed (key, seq), so equal keys come out
 * in the order they went in (FIFO), and each node knows its slot, so
 * removing any node is O(log n). Each worker keeps the deadlines of its
 * parked fibers that are near in one of these, sleeps included (the far
 * ones wait on a list: sched/timers.h).
 */
#ifndef COIL_BASE_HEAP_H
#define COIL_BASE_HEAP_H

#include <stdbool.h>
#include <stdint.h>

struct coil__heap_node {
	int64_t key;
	uint64_t seq;		/* set by push: ties go to the earlier push */
	uint32_t slot;		/* index + 1 in the heap, 0: not in it */
};

struct coil__heap {
	struct coil__heap_node **nodes;
	uint32_t n, cap;
	uint64_t next_seq;
};

/* Add node with key. Returns 0 or -ENOMEM (the heap is unchanged). */
int coil__heap_push(struct coil__heap *h, struct coil__heap_node *node, int64_t key);
/* Add node with the key and seq it has (a node that left a heap keeps its
 * place among equal keys). Returns 0 or -ENOMEM (the heap is unchanged). */
int coil__heap_insert(struct coil__heap *h, struct coil__heap_node *node);
/* Remove node if it is in h (a no-op otherwise). */
void coil__heap_remove(struct coil__heap *h, struct coil__heap_node *node);
void coil__heap_fini(struct coil__heap *h);

static inline struct coil__heap_node *coil__heap_min(const struct coil__heap *h)
{
	return h->n ? h->nodes[0] : 0;
}

/* The smallest key, INT64_MAX when empty. */
static inline int64_t coil__heap_min_key(const struct coil__heap *h)
{
	return h->n ? h->nodes[0]->key : INT64_MAX;
}

#endif
