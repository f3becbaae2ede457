/* The head's line scan: see scan.h for what it rejects and why. */
#include "http/scan.h"

#include <stdint.h>
#include <string.h>

enum {
	IN_LINE,	/* inside a line */
	IN_LINE_CR,	/* a CR inside a line: LF must follow */
	LINE_START,	/* just after CRLF: a line starts, or CR for the end */
	LINE_START_CR,	/* CR at the start of a line: LF ends the head */
};

void coil__http_scan_head(struct coil__http_scan *s)
{
	s->pos = 0;
	s->state = IN_LINE;
}

void coil__http_scan_trailers(struct coil__http_scan *s)
{
	s->pos = 0;
	s->state = LINE_START;
}

int coil__http_scan(struct coil__http_scan *s, const char *buf, size_t len, size_t *end)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = s->pos;
	unsigned state = s->state;
	for (; i < len; i++) {
		/* Inside a line, skip eight bytes at a time while none is
		 * below 14: (w - 0x0E..) & ~w & 0x80.. is zero exactly when no
		 * byte of w is below 0x0E (a borrow only follows a byte that
		 * is), and its lowest set bit marks the first such byte (no
		 * borrow reaches it), where the byte loop goes on. A 100-byte
		 * head costs ~100 instructions, not ~500. */
		if (state == IN_LINE) {
			while (len - i >= 8) {
				uint64_t w;
				memcpy(&w, p + i, 8);
				uint64_t low = (w - UINT64_C(0x0E0E0E0E0E0E0E0E)) & ~w &
					       UINT64_C(0x8080808080808080);
				if (low) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
					i += (size_t)__builtin_ctzll(low) / 8;
#endif
					break;
				}
				i += 8;
			}
			if (i == len)
				break;
		}
		unsigned char c = p[i];
		/* The common byte, inside a line: one test for the three that
		 * matter (NUL, LF, CR are all below 14). */
		if (state == IN_LINE && c > '\r')
			continue;
		if (c == 0)
			goto bad;
		switch (state) {
		case IN_LINE:
			if (c == '\n')
				goto bad;
			if (c == '\r')
				state = IN_LINE_CR;
			break;
		case IN_LINE_CR:
			if (c != '\n')
				goto bad;
			state = LINE_START;
			break;
		case LINE_START:
			if (c == '\r')
				state = LINE_START_CR;
			else if (c == '\n' || c == ' ' || c == '\t')
				goto bad;
			else
				state = IN_LINE;
			break;
		default: /* LINE_START_CR */
			if (c != '\n')
				goto bad;
			s->pos = i + 1;
			s->state = LINE_START; /* a later call stays at the end */
			*end = i + 1;
			return COIL__HTTP_SCAN_END;
		}
	}
	s->pos = i;
	s->state = (uint8_t)state;
	return COIL__HTTP_SCAN_MORE;
bad:
	s->pos = i;
	s->state = (uint8_t)state;
	return COIL__HTTP_SCAN_BAD;
}

int coil__http_find_head(struct coil__http_scan *s, const char *in, size_t len, size_t *pos,
			 size_t max_head, size_t *end)
{
	if (s->pos == 0)
		while (len - *pos >= 2 && in[*pos] == '\r' && in[*pos + 1] == '\n')
			*pos += 2;
	const char *head = in + *pos;
	size_t have = len - *pos;
	/* A lone CR may be the first half of an empty line still. */
	if (have && !(s->pos == 0 && have == 1 && head[0] == '\r')) {
		int r = coil__http_scan(s, head, have, end);
		if (r == COIL__HTTP_SCAN_BAD)
			return 400;
		if (r == COIL__HTTP_SCAN_END)
			return *end > max_head ? 431 : 0;
	}
	if (have >= max_head)
		return memchr(head, '\n', have) ? 431 : 414;
	return COIL__HTTP_HEAD_MORE;
}
