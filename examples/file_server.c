/*
 * file_server: serves the files under a directory over HTTP/1.1 and
 * HTTP/2 (h2c by prior knowledge; with --tls CERT KEY, HTTPS: h2 or
 * http/1.1 by ALPN).
 *
 *   file_server --root DIR [--port N] [--host ADDR] [--workers N] [--list]
 *               [--mime-types FILE] [--tls CERT KEY]
 *
 * --port 0 (the default) takes a free port; it prints "listening on
 * ADDR:PORT" once it accepts, and exits 0 after draining on SIGINT or
 * SIGTERM (examples/http_program.c). GET and HEAD; anything else is 405.
 *
 * What it does for each request:
 * - The target's path is percent-decoded and cut into segments; "." and
 *   empty segments are dropped. A "..", a NUL (%00), an encoded '/' (%2F,
 *   which would make a separator out of data), a control character or bad
 *   percent-encoding is 400: nothing outside the tree is ever named.
 * - What is left is opened with coil_file_open_beneath under the root, so
 *   symlinks may point around inside the tree but not out of it (403), and
 *   an absolute target ("//etc/passwd") is a name under the root.
 * - A directory: "dir" without its slash is redirected (301) to "dir/";
 *   "dir/" serves dir/index.html, else a listing with --list, else 403.
 *   (The listing reads the directory with readdir on the worker: coil has
 *   no directory op. Keep --list for small trees.)
 * - Anything but a regular file (FIFO, device, socket) is 403; files are
 *   opened with O_NONBLOCK so that a FIFO cannot hold the open.
 * - Content-Type from the file's extension through /etc/mime.types
 *   (Debian's media-types; --mime-types another file); without it a few
 *   common types are known; else application/octet-stream.
 * - Last-Modified and ETag ("<mtime ns hex>-<size hex>", strong); a GET or
 *   HEAD whose If-None-Match names it (or "*"), or, without If-None-Match,
 *   whose If-Modified-Since is not older than the file, gets 304.
 * - Range: one range ("bytes=a-b", "bytes=a-", "bytes=-n") is 206 with
 *   Content-Range; one that starts past the end (or "-0") is 416 with
 *   "Content-Range: bytes * /size". Several ranges get the whole file (200),
 *   as does a malformed Range or an If-Range that does not match.
 * - The body goes out with coil_http_response_sendfile (sendfile(2) for a
 *   cached range, else splices on io_uring): no copy through this program.
 */
#define _GNU_SOURCE /* strptime, timegm, O_PATH */
#include <coil.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_program.h"
#include "program_args.h"

/* Longest decoded path served (request targets are limited to 8 KiB by
 * the server anyway). */
#define PATH_CAP 4096

/* ---- content types ------------------------------------------------------------ */

struct mime_entry {
	const char *ext;  /* lower case, no dot */
	const char *type;
};

struct mime_table {
	struct mime_entry *v;
	size_t n;
	char *text; /* the file the entries point into */
};

/* When there is no mime.types: the types a browser needs to render a site. */
static const struct mime_entry builtin_types[] = {
	{"css", "text/css"},	      {"gif", "image/gif"},	    {"htm", "text/html"},
	{"html", "text/html"},	      {"ico", "image/vnd.microsoft.icon"},
	{"jpeg", "image/jpeg"},	      {"jpg", "image/jpeg"},	    {"js", "text/javascript"},
	{"json", "application/json"}, {"mjs", "text/javascript"},   {"pdf", "application/pdf"},
	{"png", "image/png"},	      {"svg", "image/svg+xml"},	    {"txt", "text/plain"},
	{"wasm", "application/wasm"}, {"webp", "image/webp"},	    {"woff2", "font/woff2"},
	{"xml", "application/xml"},
};

static int mime_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mime_entry *)a)->ext, ((const struct mime_entry *)b)->ext);
}

/* Read a mime.types file ("type ext ext..." per line, '#' comments).
 * Returns 0, or -errno (the table is then empty). */
static int mime_load(struct mime_table *t, const char *path)
{
	memset(t, 0, sizeof *t);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t cap = 0, len = 0;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *p = realloc(t->text, cap);
			if (!p)
				goto nomem;
			t->text = p;
		}
		memcpy(t->text + len, buf, n);
		len += n;
	}
	fclose(f);
	f = NULL;
	if (!t->text)
		return 0;
	t->text[len] = '\0';
	size_t vcap = 0;
	for (char *line = t->text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *save, *type = strtok_r(line, " \t\r", &save), *ext;
		if (!type)
			continue;
		while ((ext = strtok_r(NULL, " \t\r", &save))) {
			for (char *c = ext; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (t->n == vcap) {
				vcap = vcap ? vcap * 2 : 256;
				struct mime_entry *v = realloc(t->v, vcap * sizeof *v);
				if (!v)
					goto nomem;
				t->v = v;
			}
			t->v[t->n++] = (struct mime_entry){ext, type};
		}
	}
	/* mime.types gives each extension one type; were one listed twice,
	 * either could win. */
	qsort(t->v, t->n, sizeof *t->v, mime_cmp);
	return 0;
nomem:
	if (f)
		fclose(f);
	free(t->v);
	free(t->text);
	memset(t, 0, sizeof *t);
	return -ENOMEM;
}

static const char *mime_type(const struct mime_table *t, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	char ext[32];
	if (dot && dot[1] && strlen(dot + 1) < sizeof ext) {
		size_t i = 0;
		for (const char *c = dot + 1; *c; c++)
			ext[i++] = (char)tolower((unsigned char)*c);
		ext[i] = '\0';
		struct mime_entry key = {ext, NULL};
		const struct mime_entry *e =
			t->n ? bsearch(&key, t->v, t->n, sizeof *t->v, mime_cmp)
			     : bsearch(&key, builtin_types, sizeof builtin_types / sizeof *builtin_types,
				       sizeof *builtin_types, mime_cmp);
		if (e)
			return e->type;
	}
	return "application/octet-stream";
}

/* ---- request targets ------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * The file a target names, relative to the root: segments joined by '/',
 * "" for the root itself. *raw and *raw_len: the path as sent (for a
 * redirect), *slash: it ended with '/'. Returns 0 or the status to answer.
 */
static int target_path(struct coil_http_str t, char *out, size_t cap, const char **raw,
		       size_t *raw_len, bool *slash)
{
	const char *p = t.ptr, *end = t.ptr + t.len;
	/* absolute-form: "http://host/path" */
	for (size_t i = 0; i < t.len && i < 8 && p[0] != '/'; i++) {
		if (p[i] == ':' && i + 2 < t.len && p[i + 1] == '/' && p[i + 2] == '/') {
			const char *host = p + i + 3;
			const char *path = memchr(host, '/', (size_t)(end - host));
			p = path ? path : end;
			break;
		}
	}
	const char *q = p;
	while (q < end && *q != '?' && *q != '#')
		q++;
	end = q;
	if (p == end || *p != '/')
		return 400;
	*raw = p;
	*raw_len = (size_t)(end - p);
	*slash = end[-1] == '/';
	size_t o = 0;
	while (p < end) {
		/* one segment, decoded into out + o */
		while (p < end && *p == '/')
			p++;
		size_t start = o;
		while (p < end && *p != '/') {
			int c = (unsigned char)*p++;
			if (c == '%') {
				int hi = p < end ? hexval(p[0]) : -1;
				int lo = p + 1 < end ? hexval(p[1]) : -1;
				if (hi < 0 || lo < 0)
					return 400;
				c = hi * 16 + lo;
				p += 2;
				if (c == '/')
					return 400; /* data, not a separator */
			}
			if (c < 0x20 || c == 0x7f)
				return 400; /* NUL and other controls */
			if (o + 2 >= cap)
				return 414;
			out[o++] = (char)c;
		}
		size_t seg = o - start;
		if (seg == 0 || (seg == 1 && out[start] == '.')) {
			o = start; /* "" and "." say nothing */
			continue;
		}
		if (seg == 2 && out[start] == '.' && out[start + 1] == '.')
			return 400;
		out[o++] = '/';
	}
	if (o > 0)
		o--; /* the last segment's '/' */
	out[o] = '\0';
	return 0;
}

/* ---- dates and validators ------------------------------------------------------------ */

static void http_date(char *buf, size_t len, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* An HTTP date (IMF-fixdate, RFC 850 or asctime's) in seconds, or -1. */
static int64_t parse_http_date(struct coil_http_str v)
{
	char buf[64];
	if (v.len >= sizeof buf)
		return -1;
	memcpy(buf, v.ptr, v.len);
	buf[v.len] = '\0';
	static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT",
					      "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *e = strptime(buf, formats[i], &tm);
		if (e && !*e)
			return (int64_t)timegm(&tm);
	}
	return -1;
}

static bool str_eq(struct coil_http_str a, const char *b)
{
	return a.len == strlen(b) && !memcmp(a.ptr, b, a.len);
}

/* Whether If-None-Match's list v names etag (weak comparison) or is "*". */
static bool etag_listed(struct coil_http_str v, const char *etag)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	size_t el = strlen(etag);
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *s = p;
		while (p < end && *p != ',')
			p++;
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - s == 1 && *s == '*')
			return true;
		if (e - s >= 2 && s[0] == 'W' && s[1] == '/')
			s += 2;
		if ((size_t)(e - s) == el && !memcmp(s, etag, el))
			return true;
	}
	return false;
}

/* A decimal of at most 18 digits (no overflow) at [*p, end), or -1. */
static int64_t parse_u63(const char **p, const char *end)
{
	int64_t v = 0;
	const char *s = *p;
	while (*p < end && **p >= '0' && **p <= '9' && *p - s < 18)
		v = v * 10 + (*(*p)++ - '0');
	if (*p == s || (*p < end && **p >= '0' && **p <= '9'))
		return -1;
	return v;
}

/* The Range header v for a file of size bytes: 1 and [*off, *off + *len)
 * for one satisfiable range; 0 to send the whole file (malformed, or
 * several ranges); -1 for 416. */
static int parse_range(struct coil_http_str v, uint64_t size, uint64_t *off, uint64_t *len)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	if (v.len < 6 || strncasecmp(p, "bytes=", 6))
		return 0;
	p += 6;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (memchr(p, ',', (size_t)(end - p)))
		return 0; /* several: the whole file (allowed: RFC 9110 14.2) */
	int64_t first = -1, last = -1;
	if (p < end && *p == '-') {
		p++;
		int64_t n = parse_u63(&p, end);
		if (n < 0 || p != end)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*len = (uint64_t)n < size ? (uint64_t)n : size;
		*off = size - *len;
		return 1;
	}
	first = parse_u63(&p, end);
	if (first < 0 || p == end || *p++ != '-')
		return 0;
	if (p < end) {
		last = parse_u63(&p, end);
		if (last < 0 || last < first)
			return 0;
	}
	if (p != end)
		return 0;
	if ((uint64_t)first >= size)
		return -1;
	uint64_t stop = last < 0 || (uint64_t)last >= size ? size - 1 : (uint64_t)last;
	*off = (uint64_t)first;
	*len = stop - (uint64_t)first + 1;
	return 1;
}

/* ---- responses ----------------------------------------------------------------------- */

struct server {
	int root; /* O_PATH fd of --root */
	bool list;
	struct mime_table mime;
};

static int reply_status(coil_http_response *res, int status, const char *text)
{
	char body[96];
	int n = snprintf(body, sizeof body, "%d %s\n", status, text);
	return coil_http_respond(res, status, "text/plain", body, (size_t)n);
}

static int error_for_open(coil_http_response *res, int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -ENAMETOOLONG:
		return reply_status(res, 404, "Not Found");
	case -EXDEV:	/* out of the root */
	case -ELOOP:
	case -EACCES:
	case -EPERM:
	case -ENXIO:	/* a socket */
	case -ENODEV:	/* a device without a driver */
		return reply_status(res, 403, "Forbidden");
	default:
		return err;
	}
}

/* Append to a growing buffer; false when out of memory. */
struct buf {
	char *p;
	size_t len, cap;
};

static bool buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2 + 256;
		char *p = realloc(b->p, cap);
		if (!p)
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return true;
}

static bool buf_html(struct buf *b, const char *s)
{
	bool ok = true;
	for (; *s && ok; s++) {
		switch (*s) {
		case '<': ok = buf_put(b, "&lt;", 4); break;
		case '>': ok = buf_put(b, "&gt;", 4); break;
		case '&': ok = buf_put(b, "&amp;", 5); break;
		case '"': ok = buf_put(b, "&quot;", 6); break;
		default: ok = buf_put(b, s, 1);
		}
	}
	return ok;
}

static bool buf_url(struct buf *b, const char *s)
{
	bool ok = true;
	for (; *s && ok; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~", c)) {
			ok = buf_put(b, s, 1);
		} else {
			char e[4];
			snprintf(e, sizeof e, "%%%02X", c);
			ok = buf_put(b, e, 3);
		}
	}
	return ok;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An HTML list of the directory dir (the names, sorted; directories end
 * with '/'). */
static int listing(coil_http_response *res, int dir, const char *raw, size_t raw_len)
{
	int fd = coil_file_open_beneath(dir, ".", O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return error_for_open(res, fd);
	/* readdir closes what it reads from: a copy coil never saw. */
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	coil_close(fd);
	DIR *d = copy < 0 ? NULL : fdopendir(copy);
	if (!d) {
		if (copy >= 0)
			close(copy);
		return -EIO;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		bool isdir = e->d_type == DT_DIR;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			isdir = !fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
				S_ISDIR(st.st_mode);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **v = realloc(names, cap * sizeof *v);
			if (!v) {
				r = -ENOMEM;
				break;
			}
			names = v;
		}
		size_t l = strlen(e->d_name);
		if (!(names[n] = malloc(l + 2))) {
			r = -ENOMEM;
			break;
		}
		memcpy(names[n], e->d_name, l);
		strcpy(names[n] + l, isdir ? "/" : "");
		n++;
	}
	closedir(d);
	if (r == 0 && n > 0)
		qsort(names, n, sizeof *names, name_cmp);
	struct buf b = {0};
	char title[PATH_CAP];
	snprintf(title, sizeof title, "%.*s", (int)raw_len, raw);
	bool ok = r == 0 && buf_put(&b, "<!DOCTYPE html>\n<html><head><title>", 35) &&
		  buf_html(&b, title) && buf_put(&b, "</title></head><body>\n<h1>", 26) &&
		  buf_html(&b, title) && buf_put(&b, "</h1>\n<ul>\n", 11);
	for (size_t i = 0; i < n && ok; i++) {
		size_t l = strlen(names[i]);
		bool isdir = names[i][l - 1] == '/';
		names[i][l - isdir] = '\0';
		ok = buf_put(&b, "<li><a href=\"", 13) && buf_url(&b, names[i]) &&
		     buf_put(&b, isdir ? "/\">" : "\">", isdir ? 3 : 2) && buf_html(&b, names[i]) &&
		     buf_put(&b, isdir ? "/</a>\n" : "</a>\n", isdir ? 6 : 5);
	}
	ok = ok && buf_put(&b, "</ul>\n</body></html>\n", 21);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (ok)
		r = coil_http_respond(res, 200, "text/html", b.p, b.len);
	else if (r == 0)
		r = -ENOMEM;
	free(b.p);
	return r;
}

/* The validators and the body of the regular file fd (name: for its type). */
static int send_file(struct server *sv, coil_http_request *req, coil_http_response *res, int fd,
		     const struct coil_stat *st, const char *name)
{
	char etag[64], modified[64];
	snprintf(etag, sizeof etag, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st->mtime_ns,
		 st->size);
	time_t mtime = (time_t)(st->mtime_ns / 1000000000);
	http_date(modified, sizeof modified, mtime);
	int r = coil_http_response_header(res, "ETag", etag);
	if (r == 0)
		r = coil_http_response_header(res, "Last-Modified", modified);
	if (r < 0)
		return r;

	struct coil_http_str v;
	bool not_modified = false;
	if (coil_http_request_header(req, "If-None-Match", &v) == 0)
		not_modified = etag_listed(v, etag);
	else if (coil_http_request_header(req, "If-Modified-Since", &v) == 0) {
		int64_t since = parse_http_date(v);
		not_modified = since >= 0 && (int64_t)mtime <= since;
	}
	if (not_modified) {
		r = coil_http_response_status(res, 304);
		return r < 0 ? r : coil_http_response_end(res, NULL, 0);
	}

	uint64_t off = 0, len = st->size;
	int ranged = 0;
	if (coil_http_request_header(req, "Range", &v) == 0) {
		struct coil_http_str ir;
		/* If-Range: the range only for the representation it names. */
		if (coil_http_request_header(req, "If-Range", &ir) != 0 || str_eq(ir, etag) ||
		    str_eq(ir, modified))
			ranged = parse_range(v, st->size, &off, &len);
	}
	char range[96];
	if (ranged < 0) {
		snprintf(range, sizeof range, "bytes */%" PRIu64, st->size);
		r = coil_http_response_header(res, "Content-Range", range);
		return r < 0 ? r : reply_status(res, 416, "Range Not Satisfiable");
	}
	r = coil_http_response_header(res, "Content-Type", mime_type(&sv->mime, name));
	if (r == 0)
		r = coil_http_response_header(res, "Accept-Ranges", "bytes");
	if (r == 0 && ranged) {
		snprintf(range, sizeof range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, st->size);
		r = coil_http_response_header(res, "Content-Range", range);
		if (r == 0)
			r = coil_http_response_status(res, 206);
	}
	if (r == 0)
		r = coil_http_response_length(res, len);
	if (r < 0)
		return r;
	ssize_t n = coil_http_response_sendfile(res, fd, (int64_t)off, (size_t)len);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n < len)
		return -EIO; /* the file shrank: the connection closes */
	return coil_http_response_end(res, NULL, 0);
}

static int serve_file(coil_http_request *req, coil_http_response *res, void *ctx)
{
	struct server *sv = ctx;
	struct coil_http_str m = coil_http_request_method(req);
	if (!str_eq(m, "GET") && !str_eq(m, "HEAD")) {
		int r = coil_http_response_header(res, "Allow", "GET, HEAD");
		return r < 0 ? r : reply_status(res, 405, "Method Not Allowed");
	}
	char path[PATH_CAP];
	const char *raw;
	size_t raw_len;
	bool slash;
	int status = target_path(coil_http_request_target(req), path, sizeof path, &raw, &raw_len,
				 &slash);
	if (status)
		return reply_status(res, status, status == 400 ? "Bad Request" : "URI Too Long");
	int fd = coil_file_open_beneath(sv->root, path[0] ? path : ".",
					O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return error_for_open(res, fd);
	struct coil_stat st;
	int r = coil_file_stat(fd, &st);
	if (r == 0 && S_ISDIR(st.mode)) {
		if (!slash) {
			char loc[PATH_CAP + 2];
			coil_close(fd);
			if (raw_len + 2 > sizeof loc)
				return reply_status(res, 414, "URI Too Long");
			snprintf(loc, sizeof loc, "%.*s/", (int)raw_len, raw);
			r = coil_http_response_header(res, "Location", loc);
			return r < 0 ? r : reply_status(res, 301, "Moved Permanently");
		}
		int index = coil_file_open_beneath(fd, "index.html",
						   O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
		if (index == -ENOENT && sv->list) {
			r = listing(res, fd, raw, raw_len);
			coil_close(fd);
			return r;
		}
		coil_close(fd);
		if (index < 0)
			return index == -ENOENT ? reply_status(res, 403, "Forbidden")
						: error_for_open(res, index);
		fd = index;
		strcpy(path, "index.html"); /* for its type */
		slash = false;
		r = coil_file_stat(fd, &st);
	}
	if (r == 0 && slash && !S_ISDIR(st.mode) && path[0])
		r = reply_status(res, 404, "Not Found"); /* "file/": not a directory */
	else if (r == 0)
		r = S_ISREG(st.mode) ? send_file(sv, req, res, fd, &st, path)
				     : reply_status(res, 403, "Forbidden");
	coil_close(fd);
	return r;
}

/* ---- the program ------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: file_server --root DIR [--port N] [--host ADDR] [--workers N]"
			" [--list] [--mime-types FILE] [--tls CERT KEY]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct coil_http_config http;
	coil_http_config_init(&http);
	struct coil_config cfg;
	coil_config_init(&cfg);
	struct server sv = {.root = -1};
	const char *root = NULL, *mime = "/etc/mime.types";
	for (int i = 1; i < argc; i++) {
		int taken = program_arg_server(argc, argv, &i, &http.port, &http.addr, &cfg.workers);
		if (taken < 0)
			usage();
		if (taken)
			continue;
		if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			root = argv[++i];
		} else if (!strcmp(argv[i], "--list")) {
			sv.list = true;
		} else if (!strcmp(argv[i], "--mime-types") && i + 1 < argc) {
			mime = argv[++i];
		} else if ((taken = http_program_arg_tls(argc, argv, &i, &http, "file_server"))) {
			if (taken < 0)
				return 1;
		} else {
			usage();
		}
	}
	if (!root)
		usage();
	/* Opened before any worker runs: every worker shares it. */
	sv.root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sv.root < 0) {
		fprintf(stderr, "file_server: %s: %s\n", root, strerror(errno));
		return 1;
	}
	int r = mime_load(&sv.mime, mime);
	if (r < 0)
		fprintf(stderr, "file_server: %s: %s (a few common types only)\n", mime,
			strerror(-r));
	int status = http_program_run("file_server", &http, &cfg, serve_file, &sv);
	free(sv.mime.v);
	free(sv.mime.text);
	close(sv.root);
	coil_tls_ctx_free(http.tls);
	return status;
}
