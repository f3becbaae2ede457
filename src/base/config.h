/*
 * The runtime's settings: the public struct coil_config checked and
 * completed from the environment. Every COIL_* environment variable coil
 * reads is read here, once per runtime, so what a run obeys is in one place:
 *
 *   COIL_BACKEND          backend when coil_config.backend is NULL
 *   COIL_QUIET            no line on stderr when io_uring falls back
 *   COIL_COALESCE_SLEEPS  coil_config.coalesce_sleeps (0 or 1)
 *   COIL_URING_SETUP      coop | plain: start lower in io_uring's set-up list
 *   COIL_WORKERS          coil_config.workers when the program left it at 1
 *   COIL_PLACE            local | spread: coil_config.place when left local
 *   COIL_FEATURES         coil_config.features_on / _off when both are 0
 *   COIL_URING_WITHOUT    io_uring opcodes to treat as missing, by name
 *                         ("openat,read"): how the tests run the per-op
 *                         fallback of a kernel that lacks them
 */
#ifndef COIL_BASE_CONFIG_H
#define COIL_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "coil/config.h"

/* Fiber stack sizes accepted by coil_config and coil_task_opts. */
#define COIL__STACK_MIN ((size_t)16 * 1024)
#define COIL__STACK_MAX ((size_t)1 << 30)

/* Every enum coil_feature bit. */
#define COIL__FEATURES_ALL (COIL_FEATURE_BUF_RING | COIL_FEATURE_SQPOLL | COIL_FEATURE_SEND_ZC | \
			    COIL_FEATURE_ACCEPT_MULTI | COIL_FEATURE_FIXED_BUFS | \
			    COIL_FEATURE_NOWAIT_READS | COIL_FEATURE_RECV_BUNDLE | \
			    COIL_FEATURE_FIXED_FILES)

/* Whether cfg lets coil use feature f: forced on, or coil's choice (dflt)
 * and not forced off. */
#define COIL__FEATURE(cfg, f, dflt) \
	(((cfg)->pub.features_on & (f)) || ((dflt) && !((cfg)->pub.features_off & (f))))

enum coil__uring_setup {
	COIL__URING_SETUP_BEST,		/* SINGLE_ISSUER | DEFER_TASKRUN first */
	COIL__URING_SETUP_COOP,		/* COOP_TASKRUN | TASKRUN_FLAG first */
	COIL__URING_SETUP_PLAIN,	/* no task-run flags */
};

struct coil__config {
	struct coil_config pub;		/* backend is NULL or a name, never "" */
	bool quiet;			/* quiet_fallback or $COIL_QUIET */
	unsigned uring_setup;		/* enum coil__uring_setup */
	const char *uring_without;	/* $COIL_URING_WITHOUT, or NULL */
};

/* Check cfg (NULL: the defaults) and complete it from the environment.
 * Returns 0 or -EINVAL. */
int coil__config_load(struct coil__config *out, const struct coil_config *cfg);

#endif
