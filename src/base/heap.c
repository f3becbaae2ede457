/* The indexed min-heap. See heap.h. */
#include "base/heap.h"

#include <errno.h>
#include <stdlib.h>

static bool less(const struct coil__heap_node *a, const struct coil__heap_node *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void place(struct coil__heap *h, uint32_t i, struct coil__heap_node *n)
{
	h->nodes[i] = n;
	n->slot = i + 1;
}

static void sift_up(struct coil__heap *h, uint32_t i)
{
	struct coil__heap_node *n = h->nodes[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!less(n, h->nodes[parent]))
			break;
		place(h, i, h->nodes[parent]);
		i = parent;
	}
	place(h, i, n);
}

static void sift_down(struct coil__heap *h, uint32_t i)
{
	struct coil__heap_node *n = h->nodes[i];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = l;
		if (l >= h->n)
			break;
		if (r < h->n && less(h->nodes[r], h->nodes[l]))
			m = r;
		if (!less(h->nodes[m], n))
			break;
		place(h, i, h->nodes[m]);
		i = m;
	}
	place(h, i, n);
}

int coil__heap_insert(struct coil__heap *h, struct coil__heap_node *node)
{
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? 2 * h->cap : 64;
		struct coil__heap_node **t = realloc(h->nodes, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		h->nodes = t;
		h->cap = cap;
	}
	h->nodes[h->n] = node;
	node->slot = ++h->n;
	sift_up(h, h->n - 1);
	return 0;
}

int coil__heap_push(struct coil__heap *h, struct coil__heap_node *node, int64_t key)
{
	node->key = key;
	node->seq = h->next_seq;
	int r = coil__heap_insert(h, node);
	if (r == 0)
		h->next_seq++;
	return r;
}

void coil__heap_remove(struct coil__heap *h, struct coil__heap_node *node)
{
	if (!node->slot)
		return;
	uint32_t i = node->slot - 1, last = --h->n;
	node->slot = 0;
	if (i == last)
		return;
	place(h, i, h->nodes[last]);
	sift_down(h, i);
	sift_up(h, i);
}

void coil__heap_fini(struct coil__heap *h)
{
	free(h->nodes);
	h->nodes = NULL;
	h->n = h->cap = 0;
}
