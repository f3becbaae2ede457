/* Channels and oneshots: see coil/chan.h (semantics) and sync/chan.h (how
 * blocked fibers are represented, and how select hooks in). */
#include "coil/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "sync/chan.h"
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

struct coil__chan {
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

struct coil__oneshot {
	struct coil__chan ch;	/* bounded, capacity 1, ring = slot */
	bool sent;
	bool sender_closed;
	_Alignas(16) unsigned char slot[];
};

/* ---- case queues ------------------------------------------------------------- */

static inline struct coil__list *queue_of(struct coil__chan *ch, const struct coil__chan_case *c)
{
	return c->dir == COIL__CHAN_SEND ? &ch->sendq : &ch->recvq;
}

void coil__chan_case_enqueue(struct coil__chan *ch, struct coil__chan_case *c)
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

/* Unlink the first case of q and complete it with result. */
/* Unlink the first case of a non-empty queue. */
static inline struct coil__chan_case *caseq_pop(struct coil__list *q)
{
	return coil__container_of(coil__list_pop_front(q), struct coil__chan_case, link);
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
static int buf_push(struct coil__chan *ch, const void *elem)
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
static void buf_pop(struct coil__chan *ch, void *out)
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

size_t coil__chan_elem_size(const struct coil__chan *ch)
{
	return ch->elem_size;
}

bool coil__chan_send_ready(const struct coil__chan *ch)
{
	return ch->closed || !coil__list_empty(&ch->recvq) || ch->unbounded || ch->len < ch->cap;
}

bool coil__chan_recv_ready(const struct coil__chan *ch)
{
	return ch->len > 0 || !coil__list_empty(&ch->sendq) || ch->closed;
}

int coil__chan_send_now(struct coil__chan *ch, const void *elem)
{
	if (ch->closed)
		return -EPIPE;
	if (!coil__list_empty(&ch->recvq)) {
		/* A receiver waits, so nothing is buffered: hand over directly. */
		struct coil__chan_case *c = caseq_pop(&ch->recvq);
		copy(c->buf, elem, ch->elem_size);
		fire(c, 0);
		return 0;
	}
	if (ch->unbounded || ch->len < ch->cap)
		return buf_push(ch, elem);
	return -EAGAIN;
}

int coil__chan_recv_now(struct coil__chan *ch, void *out)
{
	if (ch->len > 0) {
		buf_pop(ch, out);
		if (!coil__list_empty(&ch->sendq)) {
			/* The ring was full: the first blocked sender's value
			 * takes the freed slot, behind everything buffered. */
			struct coil__chan_case *c = caseq_pop(&ch->sendq);
			buf_push(ch, c->buf); /* bounded: cannot fail */
			fire(c, 0);
		}
		return 0;
	}
	if (!coil__list_empty(&ch->sendq)) {
		/* Rendezvous: take the value from the sender's own buffer. */
		struct coil__chan_case *c = caseq_pop(&ch->sendq);
		copy(out, c->buf, ch->elem_size);
		fire(c, 0);
		return 0;
	}
	return ch->closed ? -EPIPE : -EAGAIN;
}

/* ---- blocking ---------------------------------------------------------------------- */

static void case_cancel(struct coil__park *wt, int code)
{
	coil__chan_case_dequeue(wt->data);
	coil__park_wake(wt, code);
}

/* Block on ch for one case, until deadline (the scope's, from the entry
 * check: no switch since). Returns what the channel fired it with (0 or
 * -EPIPE), or the park's error (-ECANCELED...; the case is then unlinked
 * and nothing happened). Fields are set one by one: the hot path of every
 * blocking send and receive, and enqueue and park set the rest. */
static int block_on(struct coil__chan *ch, uint8_t dir, void *buf, int64_t deadline)
{
	struct coil__park wt;
	struct coil__chan_case c;
	wt.cancel = case_cancel;
	wt.data = &c;
	c.buf = buf;
	c.wt = &wt;
	c.fire = NULL;
	c.dir = dir;
	coil__chan_case_enqueue(ch, &c);
	return coil__park(&wt, deadline);
}

int coil_chan_send(coil_chan *ch, const void *elem)
{
	if (!ch || (!elem && ch->elem_size))
		return -EINVAL;
	int64_t deadline;
	int r = coil__checkpoint_until(&deadline);
	if (r < 0)
		return r;
	r = coil__chan_send_now(ch, elem);
	if (r != -EAGAIN)
		return r;
	return block_on(ch, COIL__CHAN_SEND, (void *)elem, deadline);
}

int coil_chan_recv(coil_chan *ch, void *out)
{
	if (!ch || (!out && ch->elem_size))
		return -EINVAL;
	int64_t deadline;
	int r = coil__checkpoint_until(&deadline);
	if (r < 0)
		return r;
	r = coil__chan_recv_now(ch, out);
	if (r != -EAGAIN)
		return r;
	return block_on(ch, COIL__CHAN_RECV, out, deadline);
}

int coil_chan_try_send(coil_chan *ch, const void *elem)
{
	if (!ch || (!elem && ch->elem_size))
		return -EINVAL;
	return coil__chan_send_now(ch, elem);
}

int coil_chan_try_recv(coil_chan *ch, void *out)
{
	if (!ch || (!out && ch->elem_size))
		return -EINVAL;
	return coil__chan_recv_now(ch, out);
}

/* ---- life cycle ------------------------------------------------------------------- */

static void chan_init(struct coil__chan *ch, size_t elem_size, size_t capacity)
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

int coil_chan_new(coil_chan **out, size_t elem_size, size_t capacity)
{
	if (!out || elem_size > ELEM_MAX)
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
	struct coil__chan *ch = malloc(sizeof *ch);
	if (!ch)
		return -ENOMEM;
	chan_init(ch, elem_size, capacity);
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

static bool chan_busy(const struct coil__chan *ch)
{
	return !coil__list_empty(&ch->sendq) || !coil__list_empty(&ch->recvq);
}

static void chan_release(struct coil__chan *ch)
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

int coil_chan_free(coil_chan *ch)
{
	if (!ch)
		return 0;
	if (chan_busy(ch))
		return -EBUSY;
	chan_release(ch);
	free(ch);
	return 0;
}

static void chan_close(struct coil__chan *ch)
{
	ch->closed = true;
	/* Receivers block only on an empty channel, so they get nothing;
	 * blocked senders did not send. Pop one at a time: a select's fire
	 * may unlink its other cases from these same queues. */
	while (!coil__list_empty(&ch->recvq))
		fire(caseq_pop(&ch->recvq), -EPIPE);
	while (!coil__list_empty(&ch->sendq))
		fire(caseq_pop(&ch->sendq), -EPIPE);
}

int coil_chan_close(coil_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->closed)
		return -EALREADY;
	chan_close(ch);
	return 0;
}

ptrdiff_t coil_chan_len(const coil_chan *ch)
{
	if (!ch)
		return -EINVAL;
	return (ptrdiff_t)ch->len;
}

size_t coil_chan_cap(const coil_chan *ch)
{
	return ch ? ch->cap : 0;
}

int coil_chan_closed(const coil_chan *ch)
{
	if (!ch)
		return -EINVAL;
	return ch->closed ? 1 : 0;
}

/* ---- oneshot ------------------------------------------------------------------------ */

int coil_oneshot_new(coil_oneshot **out, size_t elem_size)
{
	if (!out || elem_size > ELEM_MAX)
		return -EINVAL;
	struct coil__oneshot *os = malloc(sizeof *os + elem_size);
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
	if (os->sent)
		return -EALREADY;
	if (os->sender_closed)
		return -EPIPE;
	/* Capacity 1 and never sent: there is room (or a receiver waits). */
	int r = coil__chan_send_now(&os->ch, elem);
	if (r < 0)
		return r;
	os->sent = true;
	/* The value stays buffered for the receiver; a second receive, after
	 * it, gets -EPIPE. */
	chan_close(&os->ch);
	return 0;
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
	if (os->sender_closed)
		return -EALREADY;
	os->sender_closed = true;
	if (!os->ch.closed)
		chan_close(&os->ch);
	return 0;
}

int coil_oneshot_free(coil_oneshot *os)
{
	if (!os)
		return 0;
	if (chan_busy(&os->ch))
		return -EBUSY;
	free(os);
	return 0;
}
