/*
 * A fiber with several ops in flight at once (coil_race). The fiber parks
 * once, on the race's park; each op's completion comes to the race, the
 * op's target (struct coil__op_target). The first op to complete with a result of its own
 * wins; the rest are cancelled; the park is woken when every op has
 * completed, so no buffer is still the kernel's when the race returns.
 *
 * Sleeps in a race are not ops: the park's deadline is the earliest sleep
 * or the scope's deadline, whichever comes first, timed by sched.
 */
#ifndef COIL_IO_RACE_H
#define COIL_IO_RACE_H

#include <stdbool.h>
#include <stdint.h>

#include "io/op.h"

#define COIL__RACE_MAX 16

struct coil__race {
	struct coil__op *ops;
	int n;
	int left;		/* submitted and not completed */
	int winner;		/* index of the first to complete, -1 */
	int stop_code;		/* a cancel or the scope's deadline stopped it */
	int sleep_index;	/* the earliest sleep, -1: none */
	int64_t sleep_deadline;
	bool woken;
	struct coil__park park;
	struct coil__op_target target;	/* where each op's completion goes */
	uint8_t state[COIL__RACE_MAX];
};

/* Run ops[0..n-1] (n <= COIL__RACE_MAX; COIL__OP_TIMEOUT entries are
 * sleeps until u.timeout.deadline) on the calling fiber as a race. Returns
 * the winner's index, or -ECANCELED / -ETIMEDOUT if the race was stopped
 * before any op completed with a result of its own; every op's res is set
 * (-ECANCELED for one that did not happen). */
int coil__race_run(struct coil__op *ops, int n);

#endif
