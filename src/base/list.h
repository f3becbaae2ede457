/*
 * The one intrusive list: circular, doubly linked, with a sentinel head.
 * The run queue, the free fibers, channels' case queues, task groups'
 * lists, the readiness backends' per-fd waiters and the blocking pool's
 * queues are each one of these: insert and remove are O(1), and a node
 * removed twice stays harmless (remove leaves it self-linked). The one
 * other queue, sched/waitq.h, is NULL-terminated because it lives in
 * public objects that must be valid when all-zero.
 *
 * A node is embedded in its owner; coil__container_of gets the owner back.
 * An all-zero list is not valid: initialise with coil__list_init.
 */
#ifndef COIL_BASE_LIST_H
#define COIL_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define coil__container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct coil__list {
	struct coil__list *prev, *next;
};

static inline void coil__list_init(struct coil__list *l)
{
	l->prev = l->next = l;
}

static inline bool coil__list_empty(const struct coil__list *l)
{
	return l->next == l;
}

/* Whether node n is on some list (a removed or fresh node is self-linked
 * once initialised). */
static inline bool coil__list_linked(const struct coil__list *n)
{
	return n->next != n;
}

static inline void coil__list_push_back(struct coil__list *l, struct coil__list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

static inline void coil__list_remove(struct coil__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* The first node, or NULL when empty. */
static inline struct coil__list *coil__list_first(const struct coil__list *l)
{
	return l->next == l ? NULL : l->next;
}

static inline struct coil__list *coil__list_pop_front(struct coil__list *l)
{
	struct coil__list *n = coil__list_first(l);
	if (n)
		coil__list_remove(n);
	return n;
}

/* Move every node of src to the back of dst, in order; src ends empty. */
static inline void coil__list_splice_back(struct coil__list *dst, struct coil__list *src)
{
	if (coil__list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	coil__list_init(src);
}

#define coil__list_for_each_safe(pos, tmp, head)                             \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);      \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
