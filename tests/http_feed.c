/* A byte stream through coil's request parser as a connection drives it:
 * see http_feed.h. Heads are found as conn.c's read_head finds them
 * (coil__http_find_head); keep the body reads in step with conn.c's. */
#include "http_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "http/scan.h"

static void set_limits(struct coil__http_parse *p)
{
	p->max_target = FEED_MAX_TARGET;
	p->max_fields = FEED_MAX_FIELDS;
	p->max_chunk_ext = FEED_MAX_CHUNK_EXT;
	p->max_trailers = FEED_MAX_HEAD;
	p->max_body = FEED_MAX_BODY;
}

static size_t grow(size_t vis, size_t len, size_t step)
{
	return len - vis < step ? len : vis + step;
}

#define NO_HEAD (-2) /* the input ended between requests */

/* The head at pos, as read_head finds it (coil__http_find_head, with the
 * bytes made visible step by step): 0 with its length in *end, a status,
 * or NO_HEAD / FEED_MORE when the input ends first. */
static int find_head(const char *in, size_t len, size_t step, size_t *pos, size_t *vis,
		     size_t *end)
{
	struct coil__http_scan s;
	coil__http_scan_head(&s);
	for (;;) {
		int r = coil__http_find_head(&s, in, *vis, pos, FEED_MAX_HEAD, end);
		if (r != COIL__HTTP_HEAD_MORE)
			return r;
		if (*vis == len)
			return *vis == *pos ? NO_HEAD : FEED_MORE;
		*vis = grow(*vis, len, step);
	}
}

static struct feed_str str(struct coil_http_str s)
{
	return (struct feed_str){s.ptr, s.len};
}

void feed(struct feed_result *r, const char *in, size_t len, size_t step)
{
	memset(r, 0, sizeof *r);
	if (step == 0)
		step = 1;
	static struct coil__http_field fields[FEED_MAX_FIELDS];
	struct coil__http_parse p;
	coil__http_parse_init(&p, fields);
	size_t pos = 0, vis = grow(0, len, step), cap = 0;
	for (;;) {
		coil__http_parse_next(&p);
		set_limits(&p);
		size_t end = 0;
		int st = find_head(in, len, step, &pos, &vis, &end);
		r->at = pos;
		if (st == NO_HEAD) {
			r->outcome = FEED_END;
			return;
		}
		if (st == 0)
			st = coil__http_parse_head(&p, in + pos, end);
		if (st != 0) {
			r->outcome = st;
			return;
		}
		if (r->n == cap) {
			cap = cap ? 2 * cap : 4;
			r->msgs = realloc(r->msgs, cap * sizeof *r->msgs);
		}
		struct feed_msg *m = &r->msgs[r->n];
		*m = (struct feed_msg){
			.method = str(p.method),
			.target = str(p.target),
			.nfields = p.nfields,
			.version = p.version,
			.keep_alive = p.keep_alive,
			.chunked = p.chunked,
			.start = pos,
		};
		m->fields = malloc((p.nfields + 1) * sizeof *m->fields);
		for (unsigned i = 0; i < p.nfields; i++) {
			m->fields[i][0] = str(fields[i].name);
			m->fields[i][1] = str(fields[i].value);
		}
		pos += end;
		m->body = malloc(len - pos + 1);
		while (!p.done) {
			if (pos == vis) {
				if (vis == len) {
					free(m->body);
					free(m->fields);
					r->outcome = FEED_MORE;
					return;
				}
				vis = grow(vis, len, step);
			}
			size_t out;
			ssize_t used = coil__http_parse_body(&p, in + pos, vis - pos,
							     m->body + m->body_len, &out);
			if (used < 0) {
				free(m->body);
				free(m->fields);
				r->outcome = (int)-used;
				return;
			}
			m->body_len += out;
			pos += (size_t)used;
		}
		m->end = pos;
		r->n++;
		if (!m->keep_alive) {
			r->outcome = FEED_CLOSED;
			r->at = pos;
			return;
		}
	}
}

void feed_free(struct feed_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->msgs[i].body);
		free(r->msgs[i].fields);
	}
	free(r->msgs);
	r->msgs = NULL;
	r->n = 0;
}

const char *feed_escape(const char *in, size_t len)
{
	static char out[3 * 1024 + 64];
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < len && o < sizeof out - 32; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\r')
			o += (size_t)sprintf(out + o, "\\r");
		else if (c == '\n')
			o += (size_t)sprintf(out + o, "\\n\"\n\"");
		else if (c == '\t')
			o += (size_t)sprintf(out + o, "\\t");
		else if (c == '"' || c == '\\')
			o += (size_t)sprintf(out + o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)sprintf(out + o, "\\x%02x\"\"", c);
		else
			out[o++] = (char)c;
	}
	if (o >= sizeof out - 32)
		o += (size_t)sprintf(out + o, "...(%zu bytes)", len);
	out[o++] = '"';
	out[o] = 0;
	return out;
}
