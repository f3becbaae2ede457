/* Racing ops: the io layer's part (coil__race_run; each op's completion
 * comes to the race as the op's target) and the public coil_race(). */
#include "coil/race.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "coil/fs.h"
#include "coil/time.h"
#include "io/backend.h"
#include "io/io.h"
#include "io/race.h"

enum { OP_IDLE, OP_IN_FLIGHT, OP_CANCEL_SENT, OP_DONE };

static bool settled(const struct coil__race *r)
{
	return (r->winner >= 0 || r->stop_code) && r->left == 0;
}

static void wake_if_settled(struct coil__race *r)
{
	if (!r->woken && settled(r) && r->park.fiber &&
	    r->park.fiber->park == &r->park) {
		r->woken = true;
		coil__park_wake(&r->park, 0);
	}
}

static void cancel_rest(struct coil__io *io, struct coil__race *r)
{
	for (int i = 0; i < r->n; i++) {
		if (r->state[i] != OP_IN_FLIGHT)
			continue;
		r->state[i] = OP_CANCEL_SENT;
		/* May complete the op on the spot (readiness backends), which
		 * comes back into race_op_done. */
		io->backend->cancel(io, &r->ops[i]);
	}
}

/* An op of the race completed (op->res is set): the race is its target. */
static void race_op_done(struct coil__op_target *t, struct coil__op *op)
{
	struct coil__race *r = coil__container_of(t, struct coil__race, target);
	int i = (int)(op - r->ops);
	bool cancelled = r->state[i] == OP_CANCEL_SENT;
	r->state[i] = OP_DONE;
	r->left--;
	/* A cancelled op that completed anyway won its own race against the
	 * cancel: its real result counts. */
	if (r->winner < 0 && !(cancelled && op->res == -ECANCELED)) {
		r->winner = i;
		cancel_rest(coil__tls_io, r);
	}
	wake_if_settled(r);
}

/* The park's cancel: a deadline (a sleep's, or the scope's) or a cancel. */
static void race_cancel(struct coil__park *p, int code)
{
	struct coil__race *r = p->data;
	if (r->winner < 0) {
		if (code == -ETIMEDOUT && r->sleep_index >= 0 && r->sleep_deadline <= coil_now())
			r->winner = r->sleep_index; /* the sleep fired first */
		else
			r->stop_code = code;
	}
	cancel_rest(coil__tls_io, r);
	wake_if_settled(r);
}

int coil__race_run(struct coil__op *ops, int n)
{
	struct coil__io *io = coil__tls_io;
	struct coil__fiber *self = coil__self();
	for (int i = 0; i < n; i++)
		ops[i].res = -ECANCELED; /* stays so for an op never started */
	if (!self)
		return -EPERM;
	int64_t deadline;
	int rc = coil__fiber_may_block(self, &deadline);
	if (rc < 0)
		return rc;
	/* A receive into no room completes at once with 0, as
	 * coil_sock_read does (a recv of 0 bytes would wait for data it
	 * cannot take): it wins before anything starts. */
	for (int i = 0; i < n; i++) {
		if (ops[i].code == COIL__OP_RECV && ops[i].u.rw.len == 0) {
			ops[i].res = 0;
			return i;
		}
	}
	struct coil__race race = {.ops = ops, .n = n, .winner = -1, .sleep_index = -1,
				  .sleep_deadline = INT64_MAX, .target = {.complete = race_op_done}};
	size_t nops = 0;
	for (int i = 0; i < n; i++) {
		if (ops[i].code != COIL__OP_TIMEOUT)
			nops++;
		else if (ops[i].u.timeout.deadline < race.sleep_deadline) {
			race.sleep_deadline = ops[i].u.timeout.deadline;
			race.sleep_index = i;
		}
	}
	/* Room for all of them at once (n is small next to the bound); the
	 * scope's deadline holds meanwhile. */
	while (io->inflight_max && io->inflight + nops > io->inflight_max) {
		if ((rc = coil__io_wait_room(io, &deadline)) < 0)
			return rc;
	}
	int64_t until = race.sleep_deadline < deadline ? race.sleep_deadline : deadline;
	race.park.cancel = race_cancel;
	race.park.data = &race;
	race.park.fiber = NULL; /* set by the park (read there first) */
	for (int i = 0; i < n && race.winner < 0; i++) {
		struct coil__op *op = &ops[i];
		if (op->code == COIL__OP_TIMEOUT)
			continue;
		op->res = 0;
		int r = coil__op_start(io, op, &race.target);
		if (r == 0) {
			race.state[i] = OP_IN_FLIGHT;
			race.left++;
			continue;
		}
		/* Finished at submit, or could not start: either way the
		 * race is decided; what is in flight gets cancelled. */
		if (r != COIL__SUBMIT_DONE)
			op->res = r == COIL__SUBMIT_FULL ? -EBUSY : r;
		race.state[i] = OP_DONE;
		race.winner = i;
	}
	if (race.winner >= 0) {
		cancel_rest(io, &race);
		until = INT64_MAX;
	}
	if (!settled(&race))
		coil__park(&race.park, until);
	if (race.winner >= 0 && ops[race.winner].code == COIL__OP_TIMEOUT)
		ops[race.winner].res = 0;
	self->budget = 0;
	return race.winner >= 0 ? race.winner : race.stop_code;
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
	for (int i = 0; i < n; i++) {
		ssize_t res = kops[i].res;
		if (i != winner && res >= 0 && ops[i].kind == COIL_RACE_ACCEPT &&
		    (flags & COIL_RACE_CLOSE_LOSERS)) {
			coil_close((int)res);
			res = -ECANCELED;
		}
		ops[i].res = res;
	}
	return winner;
}
