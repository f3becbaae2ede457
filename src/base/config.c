/* Settings and the environment. See config.h. */
#include "base/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void coil_config_init(struct coil_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->stack_size = 128 * 1024;
	cfg->stack_cache = 1024;
	cfg->sq_entries = 256;
	cfg->cq_entries = 4096;
	cfg->join_children = true;
	cfg->pool_threads = 4;
	cfg->coalesce_sleeps = true;
	cfg->workers = 1;
	cfg->place = COIL_PLACE_LOCAL;
	cfg->loop_posts = 1024;
	cfg->recv_buffers = 256;
	cfg->recv_buffer_size = 16 * 1024;
	cfg->send_zc_min = 16 * 1024;
	cfg->io_buffers = 256;
	cfg->io_buffer_size = 64 * 1024;
}

static int check(const struct coil_config *c)
{
	if (c->stack_size < COIL__STACK_MIN || c->stack_size > COIL__STACK_MAX)
		return -EINVAL;
	if (c->sq_entries < 1 || c->sq_entries > 32768)
		return -EINVAL;
	if (c->cq_entries < 2 * c->sq_entries || c->cq_entries > 65536)
		return -EINVAL;
	if (c->pool_threads < 1 || c->pool_threads > 256)
		return -EINVAL;
	if (c->max_inflight > (1u << 24))
		return -EINVAL;
	if (c->workers > 256 || c->place > COIL_PLACE_SPREAD)
		return -EINVAL;
	if (c->loop_posts > (1u << 20))
		return -EINVAL;
	if (c->recv_buffers < 1 || c->recv_buffers > 32768 || c->recv_buffer_size < 64 ||
	    c->recv_buffer_size > (16u << 20))
		return -EINVAL;
	if (c->io_buffers < 1 || c->io_buffers > 65536 || c->io_buffer_size < 4096 ||
	    c->io_buffer_size > (64u << 20) ||
	    (uint64_t)c->io_buffers * c->io_buffer_size > (1ull << 30))
		return -EINVAL;
	if ((c->features_on | c->features_off) & ~COIL__FEATURES_ALL)
		return -EINVAL;
	return 0;
}

/* Feature names for $COIL_FEATURES, by bit. */
static const char *const feature_names[] = {"bufring", "sqpoll", "send_zc", "accept_multi",
						  "fixedbufs", "nowait", "bundle", "fixedfiles"};

/* "name,-name,all": features on and off. Returns 0 or -EINVAL. */
static int parse_features(const char *v, unsigned *on, unsigned *off)
{
	while (*v) {
		size_t len = strcspn(v, ",");
		bool neg = *v == '-';
		const char *name = v + neg;
		size_t nlen = len - neg;
		unsigned bit = 0;
		if (nlen == 3 && !strncmp(name, "all", 3))
			bit = COIL__FEATURES_ALL;
		for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++)
			if (strlen(feature_names[i]) == nlen && !strncmp(name, feature_names[i], nlen))
				bit = 1u << i;
		if (!bit && nlen)
			return -EINVAL;
		*(neg ? off : on) |= bit;
		v += len + (v[len] == ',');
	}
	return 0;
}

/* Set and not "0". */
static bool env_on(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0");
}

int coil__config_load(struct coil__config *out, const struct coil_config *cfg)
{
	memset(out, 0, sizeof *out);
	if (cfg)
		out->pub = *cfg;
	else
		coil_config_init(&out->pub);
	int r = check(&out->pub);
	if (r < 0)
		return r;
	struct coil_config *c = &out->pub;
	if (c->loop_posts == 0)
		c->loop_posts = 1024;
	if (!c->backend || !*c->backend) {
		const char *env = getenv("COIL_BACKEND");
		c->backend = env && *env ? env : NULL;
	}
	out->quiet = c->quiet_fallback || env_on("COIL_QUIET");
	const char *coalesce = getenv("COIL_COALESCE_SLEEPS");
	if (coalesce && *coalesce)
		c->coalesce_sleeps = strcmp(coalesce, "0") != 0;
	const char *workers = getenv("COIL_WORKERS");
	if (c->workers == 1 && workers && *workers) {
		char *end;
		unsigned long n = strtoul(workers, &end, 10);
		if (*end || n > 256)
			return -EINVAL;
		c->workers = (unsigned)n;
	}
#ifdef __wasi__
	/* WASI preview 1 has no threads: one worker, the calling thread. */
	if (c->workers == 0)
		c->workers = 1;
	if (c->workers > 1)
		return -ENOTSUP;
#endif
	if (c->workers == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus;
	}
	const char *place = getenv("COIL_PLACE");
	if (c->place == COIL_PLACE_LOCAL && place && !strcmp(place, "spread"))
		c->place = COIL_PLACE_SPREAD;
	const char *features = getenv("COIL_FEATURES");
	if (!c->features_on && !c->features_off && features &&
	    parse_features(features, &c->features_on, &c->features_off) < 0)
		return -EINVAL;
	c->features_on &= ~c->features_off;
	const char *without = getenv("COIL_URING_WITHOUT");
	out->uring_without = without && *without ? without : NULL;
	const char *setup = getenv("COIL_URING_SETUP");
	if (setup && !strcmp(setup, "coop"))
		out->uring_setup = COIL__URING_SETUP_COOP;
	else if (setup && !strcmp(setup, "plain"))
		out->uring_setup = COIL__URING_SETUP_PLAIN;
	return 0;
}
