/* A worker's timers: the heap and the far list. See timers.h. */
#include "sched/timers.h"

#include "coil/time.h"

void coil__timers_init(struct coil__timers *t)
{
	*t = (struct coil__timers){.far_min = INT64_MAX, .seen = coil_now()};
}

void coil__timers_fini(struct coil__timers *t)
{
	coil__heap_fini(&t->near);
	t->far = NULL;
	t->nfar = 0;
	t->far_min = INT64_MAX;
}

/* Move the far entries due within COIL__TIMER_FAR_NS of now into the heap
 * (with the sequence number they were armed with); the first that cannot
 * be moved (no memory) is disarmed and returned. */
static struct coil__timer *sweep(struct coil__timers *t, int64_t now)
{
	int64_t min = INT64_MAX;
	struct coil__timer *next;
	for (struct coil__timer *tm = t->far; tm; tm = next) {
		next = tm->next;
		int64_t d = tm->near.key;
		if (d - now >= COIL__TIMER_FAR_NS) {
			if (d < min)
				min = d;
			continue;
		}
		coil__timer_disarm(t, tm);
		if (coil__heap_insert(&t->near, &tm->near) < 0)
			return tm;
	}
	t->far_min = t->nfar ? min : INT64_MAX;
	return NULL;
}

struct coil__timer *coil__timers_take_due(struct coil__timers *t, int64_t now,
					  struct coil__timer **nomem)
{
	t->seen = now;
	*nomem = NULL;
	if (t->nfar && now >= t->far_min - COIL__TIMER_LEAD_NS) {
		*nomem = sweep(t, now);
		if (*nomem)
			return NULL;
	}
	struct coil__heap_node *n = coil__heap_min(&t->near);
	if (!n || n->key > now)
		return NULL;
	coil__heap_remove(&t->near, n);
	return (struct coil__timer *)n;
}
