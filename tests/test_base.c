/*
 * White-box: src/base's one heap and one list, which every timer and every
 * queue of coil rest on. The heap must give equal deadlines back in the
 * order they went in (a yielding fiber's timer must not overtake an older
 * one with the same deadline) and must take any node out in place.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/heap.h"
#include "base/list.h"
#include "test_util.h"

struct timer {
	struct coil__heap_node node;
	int id;
};

static struct timer *pop(struct coil__heap *h)
{
	struct coil__heap_node *n = coil__heap_min(h);
	if (!n)
		return NULL;
	coil__heap_remove(h, n);
	return coil__container_of(n, struct timer, node);
}

START_TEST(heap_gives_equal_keys_back_in_push_order)
{
	struct coil__heap h = {0};
	enum { N = 1000 };
	static struct timer t[N];
	/* Only 4 distinct keys: many ties, pushed in a scrambled key order. */
	for (int i = 0; i < N; i++) {
		t[i].id = i;
		ck_assert_int_eq(coil__heap_push(&h, &t[i].node, (i * 7) % 4), 0);
	}
	int64_t last_key = -1;
	int last_id = -1;
	for (int i = 0; i < N; i++) {
		struct timer *x = pop(&h);
		ck_assert_ptr_nonnull(x);
		ck_assert_int_ge(x->node.key, last_key);
		if (x->node.key == last_key)
			ck_assert_int_gt(x->id, last_id); /* FIFO among equals */
		last_key = x->node.key;
		last_id = x->id;
		ck_assert_uint_eq(x->node.slot, 0);
	}
	ck_assert_ptr_null(pop(&h));
	coil__heap_fini(&h);
}
END_TEST

START_TEST(heap_removes_any_node_in_place)
{
	struct coil__heap h = {0};
	enum { N = 2000 };
	static struct timer t[N];
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, coil_test_seed("heap"));
	for (int i = 0; i < N; i++) {
		t[i].id = i;
		ck_assert_int_eq(coil__heap_push(&h, &t[i].node,
						 (int64_t)coil_test_rng_range(&rng, 0, 100000)), 0);
	}
	/* Take out every third node wherever it sits, and one twice. */
	for (int i = 0; i < N; i += 3)
		coil__heap_remove(&h, &t[i].node);
	coil__heap_remove(&h, &t[0].node); /* not in the heap: a no-op */
	ck_assert_uint_eq(h.n, N - (N + 2) / 3);
	int64_t last = -1;
	struct timer *x;
	int n = 0;
	while ((x = pop(&h)) != NULL) {
		ck_assert_int_ne(x->id % 3, 0);
		ck_assert_int_ge(x->node.key, last);
		last = x->node.key;
		n++;
	}
	ck_assert_int_eq(n, N - (N + 2) / 3);
	coil__heap_fini(&h);
}
END_TEST

struct item {
	struct coil__list link;
	int v;
};

START_TEST(list_keeps_order_and_splices)
{
	struct coil__list a, b;
	coil__list_init(&a);
	coil__list_init(&b);
	struct item it[6];
	for (int i = 0; i < 6; i++) {
		it[i].v = i;
		coil__list_push_back(i < 3 ? &a : &b, &it[i].link);
	}
	coil__list_remove(&it[1].link);
	coil__list_remove(&it[1].link); /* twice: harmless */
	ck_assert(!coil__list_linked(&it[1].link));
	coil__list_splice_back(&a, &b);
	ck_assert(coil__list_empty(&b));
	const int want[] = {0, 2, 3, 4, 5};
	for (int i = 0; i < 5; i++) {
		struct coil__list *n = coil__list_pop_front(&a);
		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(coil__container_of(n, struct item, link)->v, want[i]);
	}
	ck_assert_ptr_null(coil__list_pop_front(&a));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");
	tcase_add_test(tc, heap_gives_equal_keys_back_in_push_order);
	tcase_add_test(tc, heap_removes_any_node_in_place);
	tcase_add_test(tc, list_keeps_order_and_splices);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
