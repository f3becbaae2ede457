/* Channels and oneshots: see coil/chan.h (semantics) and sync/chan.h (how
 * blocked fibers are represented, and how select hooks in). */
#include "coil/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/list.h"
#include "base/spin.h"
#include "coil/time.h"
#include "sync/chan.h"
#include "sched/sched.h"
#include "sched/switch.h"
#include "sched/waitq.h"

/* Largest element, and largest ring of a bounded channel. */
#define ELEM_MAX ((size_t)1 << 30)
#define RING_MAX ((size_t)1 << 30)
/* An unbounded channel grows by chunks of about this many bytes. */
#define CHUNK_BYTES 8192u
#define CHUNK_ELEMS_MAX 1024u

struct chunk {
	struct chunk *next;
	_Alignas(16) unsigned char data[];
};

struct coil_chan {
	uint32_t lock;		/* see coil__chan_locking */
	bool threads;		/* COIL_CHAN_THREADS: plain threads may use it */
	size_t elem_size;
	size_t cap;		/* as given: 0, N, or COIL_CHAN_UNBOUNDED */
	size_t len;		/* values buffered */
	bool closed;
	bool unbounded;
	bool ring_owned;	/* ring was allocated for this channel */
	/* bounded: ring of cap slots, first value at head */
	unsigned char *ring;
	size_t head;
	/* unbounded: a list of chunks; read at (first, rd), write at (last, wr).
	 * One drained chunk is kept as spare, so a steady stream allocates
	 * nothing. */
	struct chunk *first, *last, *spare;
	size_t chunk_elems;
	size_t rd, wr;
	struct coil__list sendq, recvq;	/* of struct coil__chan_case, FIFO */
};

struct coil_oneshot {
	struct coil_chan ch;	/* bounded, capacity 1, ring = slot */
	bool sent;
	bool sender_closed;
	_Alignas(16) unsigned char slot[];
};

/* ---- case queues ------------------------------------------------------------- */

static inline struct coil__list *queue_of(struct coil_chan *ch, const struct coil__chan_case *c)
{
	return c->dir == COIL__CHAN_SEND ? &ch->sendq : &ch->recvq;
}

void coil__chan_case_enqueue(struct coil_chan *ch, struct coil__chan_case *c)
{
	c->ch = ch;
	coil__list_push_back(queue_of(ch, c), &c->link);
}

void coil__chan_case_dequeue(struct coil__chan_case *c)
{
	/* A fired or cancelled case was removed, which leaves it self-linked. */
	if (coil__list_linked(&c->link))
		coil__list_remove(&c->link);
}

static inline bool locking(const struct coil_chan *ch)
{
	struct coil__worker *w = coil__tls_worker;
	return ch->threads || (w && w->multi);
}

bool coil__chan_locking(const struct coil_chan *ch)
{
	return locking(ch);
}

bool coil__chan_threads(const struct coil_chan *ch)
{
	return ch->threads;
}

uint32_t *coil__chan_lock_word(struct coil_chan *ch)
{
	return &ch->lock;
}

/* Whether a select case can still fire: its select was not claimed yet
 * (by another case firing, or its cancel). Claims it. */
static inline bool claim(struct coil__chan_case *c)
{
	if (!c->claim)
		return true;
	uint32_t zero = 0;
	return __atomic_compare_exchange_n(c->claim, &zero, 1, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* Drop the cases at the head of q whose select is already claimed: they
 * are stale (their select unlinks the rest when it wakes). */
static inline void caseq_purge(struct coil__list *q)
{
	while (!coil__list_empty(q)) {
		struct coil__chan_case *c =
			coil__container_of(q->next, struct coil__chan_case, link);
		if (!c->claim || !__atomic_load_n(c->claim, __ATOMIC_ACQUIRE))
			return;
		coil__list_remove(&c->link);
	}
}

/* Unlink the first case of q that can still fire, claimed; NULL: none. */
static inline struct coil__chan_case *caseq_pop(struct coil__list *q)
{
	struct coil__list *n;
	while ((n = coil__list_pop_front(q)) != NULL) {
		struct coil__chan_case *c = coil__container_of(n, struct coil__chan_case, link);
		if (__builtin_expect(claim(c), 1))
			return c;
	}
	return NULL;
}

static inline void fire(struct coil__chan_case *c, int result)
{
	if (c->fire)
		c->fire(c, result);
	else
		coil__park_wake(c->wt, result);
}

/* Copy one value. The common small sizes get a fixed-size copy (a move or
 * two, no call into libc). */
static inline void copy(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 0:
		return;
	case 4:
		memcpy(dst, src, 4);
		return;
	case 8:
		memcpy(dst, src, 8);
		return;
	case 16:
		memcpy(dst, src, 16);
		return;
	default:
		memcpy(dst, src, n);
	}
}

/* ---- the buffer ---------------------------------------------------------------- */

/* Append a value. Bounded: the caller checked len < cap. Unbounded: may
 * fail with -ENOMEM. */
static inline __attribute__((always_inline)) int buf_push(struct coil_chan *ch, const void *elem)
{
	size_t es = ch->elem_size;
	if (!ch->unbounded) {
		size_t tail = ch->head + ch->len;
		if (tail >= ch->cap)
			tail -= ch->cap;
		copy(ch->ring + tail * es, elem, es);
		ch->len++;
		return 0;
	}
	if (es == 0) {
		if (ch->len == SIZE_MAX)
			return -ENOMEM;
		ch->len++;
		return 0;
	}
	if (!ch->last || ch->wr == ch->chunk_elems) {
		struct chunk *k = ch->spare;
		if (k) {
			ch->spare = NULL;
		} else {
			k = malloc(sizeof *k + ch->chunk_elems * es);
			if (!k)
				return -ENOMEM;
		}
		k->next = NULL;
		if (ch->last)
			ch->last->next = k;
		else {
			ch->first = k;
			ch->rd = 0;
		}
		ch->last = k;
		ch->wr = 0;
	}
	copy(ch->last->data + ch->wr * es, elem, es);
	ch->wr++;
	ch->len++;
	return 0;
}

/* Take the first value (the caller checked len > 0). */
static inline __attribute__((always_inline)) void buf_pop(struct coil_chan *ch, void *out)
{
	size_t es = ch->elem_size;
	ch->len--;
	if (!ch->unbounded) {
		copy(out, ch->ring + ch->head * es, es);
		if (++ch->head == ch->cap)
			ch->head = 0;
		return;
	}
	if (es == 0)
		return;
	copy(out, ch->first->data + ch->rd * es, es);
	ch->rd++;
	if (ch->len == 0) {
		/* All earlier chunks are gone: first == last. Start over in it. */
		ch->rd = ch->wr = 0;
	} else if (ch->rd == ch->chunk_elems) {
		struct chunk *k = ch->first;
		ch->first = k->next;
		ch->rd = 0;
		if (!ch->spare)
			ch->spare = k;
		else
			free(k);
	}
}

/* ---- the operations select also uses ------------------------------------------ */

size_t coil__chan_elem_size(const struct coil_chan *ch)
{
	return ch->elem_size;
}

bool coil__chan_send_ready(struct coil_chan *ch)
{
	caseq_purge(&ch->recvq);
	return ch->closed || !coil__list_empty(&ch->recvq) || ch->unbounded || ch->len < ch->cap;
}

bool coil__chan_recv_ready(struct coil_chan *ch)
{
	caseq_purge(&ch->sendq);
	return ch->len > 0 || !coil__list_empty(&ch->sendq) || ch->closed;
}

/* Inline in the blocking and try calls (their hot path); select calls the
 * out-of-line coil__chan_*_now. */
static inline __attribute__((always_inline)) int send_now(struct coil_chan *ch,
							  const void *elem)
{
	if (ch->closed)
		return -EPIPE;
	struct coil__chan_case *c = caseq_pop(&ch->recvq);
	if (c) {
		/* A receiver waits, so nothing is buffered: hand over directly. */
		copy(c->buf, elem, ch->elem_size);
		fire(c, 0);
		return 0;
	}
	if (ch->unbounded || ch->len < ch->cap)
		return buf_push(ch, elem);
	return -EAGAIN;
}

static inline __attribute__((always_inline)) int recv_now(struct coil_chan *ch, void *out)
{
	if (ch->len > 0) {
		buf_pop(ch, out);
		struct coil__chan_case *c = caseq_pop(&ch->sendq);
		if (c) {
			/* The ring was full: the first blocked sender's value
			 * takes the freed slot, behind everything buffered. */
			buf_push(ch, c->buf); /* bounded: cannot fail */
			fire(c, 0);
		}
		return 0;
	}
	struct coil__chan_case *c = caseq_pop(&ch->sendq);
	if (c) {
		/* Rendezvous: take the value from the sender's own buffer. */
		copy(out, c->buf, ch->elem_size);
		fire(c, 0);
		return 0;
	}
	return ch->closed ? -EPIPE : -EAGAIN;
}

int coil__chan_send_now(struct coil_chan *ch, const void *elem)
{
	return send_now(ch, elem);
}

int coil__chan_recv_now(struct coil_chan *ch, void *out)
{
	return recv_now(ch, out);
}

/* ---- blocking ---------------------------------------------------------------------- */

/* The parked case's cancel (deadline, task cancelled). Under the lock: a
 * case still linked was not fired, so unlink it and wake with the code; an
 * unlinked one was fired by a thread that is waking it: nothing to do. */
static void case_cancel(struct coil__park *wt, int code)
{
	struct coil__chan_case *c = wt->data;
	struct coil_chan *ch = c->ch;
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	bool linked = coil__list_linked(&c->link);
	if (linked)
		coil__list_remove(&c->link);
	coil__spin_unlock_if(&ch->lock, lk);
	if (linked)
		coil__park_wake(wt, code);
}

/* Block on ch for one case, until deadline; the caller holds ch's lock (if
 * lk), which this releases once the case is linked. Returns what the
 * channel fired it with (0 or -EPIPE), or the park's error (-ECANCELED...;
 * the case is then unlinked and nothing happened). Fields are set one by
 * one: the hot path of every blocking send and receive. */
static inline __attribute__((always_inline)) int
block_on(struct coil_chan *ch, bool lk, uint8_t dir, void *buf, int64_t deadline)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__park wt;
	struct coil__chan_case c;
	wt.cancel = case_cancel;
	wt.data = &c;
	wt.fiber = w->current; /* before it is linked: a waker may read it */
	c.buf = buf;
	c.wt = &wt;
	c.fire = NULL;
	c.claim = NULL;
	c.dir = dir;
	coil__chan_case_enqueue(ch, &c);
	coil__spin_unlock_if(&ch->lock, lk);
	if (__builtin_expect(!ch->threads, 1))
		return coil__park_inline(&wt, deadline, 0);
	/* A plain thread may wake it: this worker is never deadlocked. */
	w->outside_waits++;
	int r = coil__park_inline(&wt, deadline, 0);
	w->outside_waits--;
	return r;
}

/* ---- plain threads --------------------------------------------------------------- */

static long futex_wait(uint32_t *word, uint32_t val, const struct timespec *abs_mono)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
	return syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, abs_mono, NULL,
		       FUTEX_BITSET_MATCH_ANY);
}

/* A plain thread's blocking send or receive on a COIL_CHAN_THREADS channel,
 * whose lock the caller holds: link a case whose park has no fiber, and
 * sleep on its futex word until fired or deadline. */
static int thread_block_on(struct coil_chan *ch, uint8_t dir, void *buf, int64_t deadline)
{
	struct coil__park wt;
	struct coil__chan_case c;
	memset(&wt, 0, sizeof wt);
	wt.data = &c;
	c.buf = buf;
	c.wt = &wt;
	c.fire = NULL;
	c.claim = NULL;
	c.dir = dir;
	coil__chan_case_enqueue(ch, &c);
	coil__spin_unlock(&ch->lock);
	struct timespec ts, *tsp = NULL;
	if (deadline != INT64_MAX) {
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		tsp = &ts;
	}
	while (!__atomic_load_n(&wt.thread_woken, __ATOMIC_ACQUIRE)) {
		long r = futex_wait(&wt.thread_woken, 0, tsp);
		if (r < 0 && errno == ETIMEDOUT) {
			coil__spin_lock(&ch->lock);
			bool linked = coil__list_linked(&c.link);
			if (linked)
				coil__list_remove(&c.link);
			coil__spin_unlock(&ch->lock);
			if (linked)
				return -ETIMEDOUT;
			tsp = NULL; /* fired meanwhile: the wake is a moment away */
		}
	}
	return wt.result;
}

/* ---- the calls --------------------------------------------------------------------- */

/* Send or receive, blocking until deadline (INT64_MAX: none). From a fiber:
 * the scope's deadline and cancellation apply too. From a plain thread:
 * only on a COIL_CHAN_THREADS channel. */
static inline __attribute__((always_inline)) int
chan_op(struct coil_chan *ch, uint8_t dir, void *buf, int64_t until, bool fiber_only)
{
	struct coil__fiber *self = coil__self();
	int r;
	if (__builtin_expect(self != NULL, 1)) {
		int64_t deadline;
		r = coil__fiber_may_block(self, &deadline);
		if (r < 0)
			return r;
		if (until < deadline)
			deadline = until;
		bool lk = locking(ch);
		coil__spin_lock_if(&ch->lock, lk);
		r = dir == COIL__CHAN_SEND ? send_now(ch, buf) : recv_now(ch, buf);
		if (r != -EAGAIN) {
			coil__spin_unlock_if(&ch->lock, lk);
			return r;
		}
		if (__builtin_expect(deadline != INT64_MAX, 0) && deadline <= coil_now()) {
			coil__spin_unlock_if(&ch->lock, lk);
			return -ETIMEDOUT;
		}
		return block_on(ch, lk, dir, buf, deadline);
	}
	if (fiber_only || !ch->threads)
		return -EPERM;
	coil__spin_lock(&ch->lock);
	r = dir == COIL__CHAN_SEND ? coil__chan_send_now(ch, buf) : coil__chan_recv_now(ch, buf);
	if (r != -EAGAIN) {
		coil__spin_unlock(&ch->lock);
		return r;
	}
	if (until != INT64_MAX && until <= coil_now()) {
		coil__spin_unlock(&ch->lock);
		return -ETIMEDOUT;
	}
	return thread_block_on(ch, dir, buf, until);
}

int coil_chan_send(coil_chan *ch, const void *elem)
{
	if (!ch || (!elem && ch->elem_size))
		return -EINVAL;
	return chan_op(ch, COIL__CHAN_SEND, (void *)elem, INT64_MAX, true);
}

int coil_chan_recv(coil_chan *ch, void *out)
{
	if (!ch || (!out && ch->elem_size))
		return -EINVAL;
	return chan_op(ch, COIL__CHAN_RECV, out, INT64_MAX, true);
}

int coil_chan_send_until(coil_chan *ch, const void *elem, int64_t deadline_ns)
{
	if (!ch || (!elem && ch->elem_size))
		return -EINVAL;
	return chan_op(ch, COIL__CHAN_SEND, (void *)elem, deadline_ns, false);
}

int coil_chan_recv_until(coil_chan *ch, void *out, int64_t deadline_ns)
{
	if (!ch || (!out && ch->elem_size))
		return -EINVAL;
	return chan_op(ch, COIL__CHAN_RECV, out, deadline_ns, false);
}

int coil_chan_try_send(coil_chan *ch, const void *elem)
{
	if (!ch || (!elem && ch->elem_size))
		return -EINVAL;
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	int r = send_now(ch, elem);
	coil__spin_unlock_if(&ch->lock, lk);
	return r;
}

int coil_chan_try_recv(coil_chan *ch, void *out)
{
	if (!ch || (!out && ch->elem_size))
		return -EINVAL;
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	int r = recv_now(ch, out);
	coil__spin_unlock_if(&ch->lock, lk);
	return r;
}

/* ---- life cycle ------------------------------------------------------------------- */

static void chan_init(struct coil_chan *ch, size_t elem_size, size_t capacity)
{
	memset(ch, 0, sizeof *ch);
	coil__list_init(&ch->sendq);
	coil__list_init(&ch->recvq);
	ch->elem_size = elem_size;
	ch->cap = capacity;
	ch->unbounded = capacity == COIL_CHAN_UNBOUNDED;
	if (ch->unbounded && elem_size) {
		size_t n = CHUNK_BYTES / elem_size;
		ch->chunk_elems = n < 1 ? 1 : n > CHUNK_ELEMS_MAX ? CHUNK_ELEMS_MAX : n;
	}
}

int coil_chan_new_ex(coil_chan **out, size_t elem_size, size_t capacity, unsigned flags)
{
	if (!out || elem_size > ELEM_MAX || (flags & ~COIL_CHAN_THREADS))
		return -EINVAL;
	bool unbounded = capacity == COIL_CHAN_UNBOUNDED;
	size_t ring = 0;
	if (!unbounded && capacity > 0) {
		if (elem_size && capacity > RING_MAX / elem_size)
			return -EINVAL;
		if (capacity > RING_MAX)
			return -EINVAL;
		ring = capacity * elem_size;
	}
	struct coil_chan *ch = malloc(sizeof *ch);
	if (!ch)
		return -ENOMEM;
	chan_init(ch, elem_size, capacity);
	ch->threads = flags & COIL_CHAN_THREADS;
	if (ring) {
		ch->ring = malloc(ring);
		if (!ch->ring) {
			free(ch);
			return -ENOMEM;
		}
		ch->ring_owned = true;
	}
	*out = ch;
	return 0;
}

int coil_chan_new(coil_chan **out, size_t elem_size, size_t capacity)
{
	return coil_chan_new_ex(out, elem_size, capacity, 0);
}

static bool chan_busy(const struct coil_chan *ch)
{
	return !coil__list_empty(&ch->sendq) || !coil__list_empty(&ch->recvq);
}

static void chan_release(struct coil_chan *ch)
{
	if (ch->ring_owned)
		free(ch->ring);
	struct chunk *k = ch->first;
	while (k) {
		struct chunk *next = k->next;
		free(k);
		k = next;
	}
	free(ch->spare);
}

/* Whether ch has waiters, stale select cases dropped first (under the
 * lock). */
static bool chan_busy_locked(struct coil_chan *ch)
{
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	caseq_purge(&ch->sendq);
	caseq_purge(&ch->recvq);
	bool busy = chan_busy(ch);
	coil__spin_unlock_if(&ch->lock, lk);
	return busy;
}

int coil_chan_free(coil_chan *ch)
{
	if (!ch)
		return 0;
	if (chan_busy_locked(ch))
		return -EBUSY;
	chan_release(ch);
	free(ch);
	return 0;
}

/* Under the lock. */
static void chan_close(struct coil_chan *ch)
{
	ch->closed = true;
	/* Receivers block only on an empty channel, so they get nothing;
	 * blocked senders did not send. */
	struct coil__chan_case *c;
	while ((c = caseq_pop(&ch->recvq)) != NULL)
		fire(c, -EPIPE);
	while ((c = caseq_pop(&ch->sendq)) != NULL)
		fire(c, -EPIPE);
}

int coil_chan_close(coil_chan *ch)
{
	if (!ch)
		return -EINVAL;
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	int r = 0;
	if (ch->closed)
		r = -EALREADY;
	else
		chan_close(ch);
	coil__spin_unlock_if(&ch->lock, lk);
	return r;
}

ptrdiff_t coil_chan_len(const coil_chan *ch)
{
	if (!ch)
		return -EINVAL;
	struct coil_chan *c = (struct coil_chan *)ch;
	bool lk = locking(c);
	coil__spin_lock_if(&c->lock, lk);
	size_t n = c->len;
	coil__spin_unlock_if(&c->lock, lk);
	return (ptrdiff_t)n;
}

size_t coil_chan_cap(const coil_chan *ch)
{
	return ch ? ch->cap : 0;
}

int coil_chan_closed(const coil_chan *ch)
{
	if (!ch)
		return -EINVAL;
	struct coil_chan *c = (struct coil_chan *)ch;
	bool lk = locking(c);
	coil__spin_lock_if(&c->lock, lk);
	bool closed = c->closed;
	coil__spin_unlock_if(&c->lock, lk);
	return closed ? 1 : 0;
}

/* ---- oneshot ------------------------------------------------------------------------ */

int coil_oneshot_new(coil_oneshot **out, size_t elem_size)
{
	if (!out || elem_size > ELEM_MAX)
		return -EINVAL;
	struct coil_oneshot *os = malloc(sizeof *os + elem_size);
	if (!os)
		return -ENOMEM;
	chan_init(&os->ch, elem_size, 1);
	os->ch.ring = os->slot;
	os->sent = false;
	os->sender_closed = false;
	*out = os;
	return 0;
}

int coil_oneshot_send(coil_oneshot *os, const void *elem)
{
	if (!os || (!elem && os->ch.elem_size))
		return -EINVAL;
	struct coil_chan *ch = &os->ch;
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	int r;
	if (os->sent) {
		r = -EALREADY;
	} else if (os->sender_closed) {
		r = -EPIPE;
	} else {
		/* Capacity 1 and never sent: there is room (or a receiver
		 * waits). */
		r = coil__chan_send_now(ch, elem);
		if (r == 0) {
			os->sent = true;
			/* The value stays buffered for the receiver; a second
			 * receive, after it, gets -EPIPE. */
			chan_close(ch);
		}
	}
	coil__spin_unlock_if(&ch->lock, lk);
	return r;
}

int coil_oneshot_recv(coil_oneshot *os, void *out)
{
	if (!os)
		return -EINVAL;
	return coil_chan_recv(&os->ch, out);
}

int coil_oneshot_try_recv(coil_oneshot *os, void *out)
{
	if (!os)
		return -EINVAL;
	return coil_chan_try_recv(&os->ch, out);
}

int coil_oneshot_close(coil_oneshot *os)
{
	if (!os)
		return -EINVAL;
	struct coil_chan *ch = &os->ch;
	bool lk = locking(ch);
	coil__spin_lock_if(&ch->lock, lk);
	int r = 0;
	if (os->sender_closed) {
		r = -EALREADY;
	} else {
		os->sender_closed = true;
		if (!ch->closed)
			chan_close(ch);
	}
	coil__spin_unlock_if(&ch->lock, lk);
	return r;
}

int coil_oneshot_free(coil_oneshot *os)
{
	if (!os)
		return 0;
	if (chan_busy_locked(&os->ch))
		return -EBUSY;
	free(os);
	return 0;
}
