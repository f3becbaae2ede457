/*
 * A fiber with several ops in flight at once (coil_race). core/op.c hands
 * each completion of such a fiber here; the fiber wakes at the first, cancels
 * the rest and parks again until every op has completed.
 */
#ifndef COIL_CORE_RACE_H
#define COIL_CORE_RACE_H

#include <stdbool.h>

#include "core/op.h"

struct coil__worker;
struct coil__fiber;

enum { RACE_IDLE, RACE_IN_FLIGHT, RACE_CANCEL_SENT, RACE_DONE };

struct coil__race {
	struct coil__op *ops;
	int n;
	int left;		/* submitted and not completed */
	int winner;		/* index of the first to complete, -1 */
	bool settling;		/* the rest are being cancelled */
	unsigned char state[16];
};

/* Run ops[0..n-1] (n <= 16) on the calling fiber as a race; returns the
 * winner's index, or a negative errno if none could start. */
int coil__race_run(struct coil__op *ops, int n);
void coil__race_op_done(struct coil__worker *w, struct coil__fiber *f, struct coil__op *op);
void coil__race_interrupt(struct coil__worker *w, struct coil__fiber *f);

#endif
