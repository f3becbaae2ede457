/* program_args: see program_args.h. */
#include "program_args.h"

#include <coil.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* A port to listen on: 0 to 65535 (0: a free one). */
static bool program_arg_port(const char *s, uint16_t *port)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*end || end == s || n < 0 || n > 65535)
		return false;
	*port = (uint16_t)n;
	return true;
}

int program_arg_server(int argc, char **argv, int *i, uint16_t *port, const char **host,
		       unsigned *workers)
{
	const char *opt = argv[*i];
	if (strcmp(opt, "--port") && strcmp(opt, "--host") && strcmp(opt, "--workers"))
		return 0;
	if (*i + 1 >= argc)
		return -1;
	const char *v = argv[++*i];
	if (!strcmp(opt, "--host")) {
		*host = v;
		return 1;
	}
	if (!strcmp(opt, "--port"))
		return program_arg_port(v, port) ? 1 : -1;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end || end == v || n < 0 || n > INT_MAX)
		return -1;
	*workers = (unsigned)n;
	return 1;
}

bool program_arg_msec(const char *s, long min, int64_t *ns)
{
	char *end;
	long ms = strtol(s, &end, 10);
	if (*end || end == s || ms < min || ms > INT64_MAX / COIL_NSEC_PER_MSEC)
		return false;
	*ns = ms * COIL_NSEC_PER_MSEC;
	return true;
}

bool program_arg_host_port(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return false;
	size_t hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	char *end;
	long n = strtol(colon + 1, &end, 10);
	if (!hl || hl >= cap || *end || n <= 0 || n > 65535)
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (uint16_t)n;
	return true;
}

void program_raise_nofile(void)
{
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
}
