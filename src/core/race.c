/* Racing ops: the core part (coil__race_*) and coil_race(). */
#include "coil/race.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "coil/fs.h"
#include "coil/time.h"
#include "core/backend.h"
#include "core/race.h"
#include "core/worker.h"

static void cancel_rest(struct coil__worker *w, struct coil__race *r)
{
	for (int i = 0; i < r->n; i++) {
		if (r->state[i] != RACE_IN_FLIGHT)
			continue;
		r->state[i] = RACE_CANCEL_SENT;
		/* May complete the op on the spot (readiness backends). */
		w->backend->cancel(w, &r->ops[i]);
	}
}

void coil__race_op_done(struct coil__worker *w, struct coil__fiber *f, struct coil__op *op)
{
	struct coil__race *r = f->race;
	int i = (int)(op - r->ops);
	r->state[i] = RACE_DONE;
	r->left--;
	if (r->winner < 0)
		r->winner = i;
	if (f->state == COIL__FIBER_PARKED && (!r->settling || r->left == 0))
		coil__wake(w, f);
}

void coil__race_interrupt(struct coil__worker *w, struct coil__fiber *f)
{
	/* Cancel everything; the first completion (a cancelled op's) then
	 * decides the race as usual. */
	cancel_rest(w, f->race);
}

int coil__race_run(struct coil__op *ops, int n)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *self = w->current;
	int64_t deadline;
	int rc = coil__fiber_may_block(self, &deadline);
	if (rc < 0)
		return rc;
	/* Room for all of them at once (n is small next to the bound). */
	while (w->inflight_max && w->inflight + (size_t)n > w->inflight_max) {
		self->wait = COIL__WAIT_ROOM;
		self->wait_result = 0;
		coil__queue_push(&w->room_waiters, self);
		coil__park(w);
		self->wait = COIL__WAIT_NONE;
		if (self->wait_result < 0)
			return self->wait_result;
		if ((rc = coil__fiber_may_block(self, &deadline)) < 0)
			return rc;
	}

	struct coil__race race = {.ops = ops, .n = n, .winner = -1};
	for (int i = 0; i < n; i++)
		ops[i].res = -ECANCELED; /* stays so for an op never started */
	self->race = &race;
	self->wait = COIL__WAIT_RACE;
	for (int i = 0; i < n && race.winner < 0; i++) {
		struct coil__op *op = &ops[i];
		op->fiber = self;
		op->gen = ++w->op_gen;
		op->res = 0;
		op->completed = false;
		op->backend_state = 0;
		op->link_deadline = op->code == COIL__OP_TIMEOUT ? INT64_MAX : deadline;
		int r = w->backend->submit(w, op);
		if (r == 0) {
			race.state[i] = RACE_IN_FLIGHT;
			race.left++;
			w->inflight++;
			continue;
		}
		/* Finished at submit, or could not start: either way the
		 * race is decided; what is in flight gets cancelled. */
		if (r != COIL__SUBMIT_DONE)
			op->res = r == -EAGAIN ? -EBUSY : r;
		race.state[i] = RACE_DONE;
		race.winner = i;
	}
	if (race.winner < 0)
		coil__park(w); /* until the first completion */
	race.settling = true;
	cancel_rest(w, &race);
	while (race.left > 0)
		coil__park(w);
	self->wait = COIL__WAIT_NONE;
	self->race = NULL;
	self->inline_streak = 0;
	return race.winner;
}

static int build(struct coil_race_op *ro, struct coil__op *op)
{
	memset(op, 0, sizeof *op);
	op->fd = ro->fd;
	switch (ro->kind) {
	case COIL_RACE_SOCK_READ:
	case COIL_RACE_SOCK_WRITE:
	case COIL_RACE_FILE_READ:
		if (ro->fd < 0)
			return -EBADF;
		if (!ro->buf && ro->len)
			return -EINVAL;
		op->u.rw.buf = ro->buf;
		op->u.rw.len = ro->len > COIL__IO_MAX ? COIL__IO_MAX : ro->len;
		if (ro->kind == COIL_RACE_SOCK_READ) {
			op->code = COIL__OP_RECV;
		} else if (ro->kind == COIL_RACE_SOCK_WRITE) {
			op->code = COIL__OP_SEND;
			op->flags = MSG_NOSIGNAL;
		} else {
			if (ro->off < -1)
				return -EINVAL;
			op->code = COIL__OP_READ;
			op->off = ro->off;
		}
		return 0;
	case COIL_RACE_ACCEPT:
		if (ro->fd < 0)
			return -EBADF;
		op->code = COIL__OP_ACCEPT;
		op->flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
		return 0;
	case COIL_RACE_SLEEP: {
		int64_t now = coil_now(), ns = ro->ns > 0 ? ro->ns : 0;
		op->code = COIL__OP_TIMEOUT;
		op->u.timeout.deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int coil_race(struct coil_race_op *ops, int n, unsigned flags)
{
	if (!coil__self())
		return -EPERM;
	if (!ops || n < 1 || n > COIL_RACE_MAX || (flags & ~COIL_RACE_CLOSE_LOSERS))
		return -EINVAL;
	struct coil__op kops[COIL_RACE_MAX];
	for (int i = 0; i < n; i++) {
		int r = build(&ops[i], &kops[i]);
		if (r < 0)
			return r;
	}
	int winner = coil__race_run(kops, n);
	if (winner < 0)
		return winner;
	for (int i = 0; i < n; i++) {
		ssize_t res = kops[i].res;
		if (kops[i].code == COIL__OP_TIMEOUT && res == -ETIME)
			res = 0;
		if (i != winner && res >= 0 && ops[i].kind == COIL_RACE_ACCEPT &&
		    (flags & COIL_RACE_CLOSE_LOSERS)) {
			coil_close((int)res);
			res = -ECANCELED;
		}
		ops[i].res = res;
	}
	ssize_t wres = ops[winner].res;
	if (wres == -ECANCELED || wres == -ETIMEDOUT)
		return (int)wres;
	return winner;
}
