/*
 * The line scan that runs over a request head (and a chunked body's
 * trailers) before llhttp sees a byte of it.
 *
 * llhttp 8.1.0, even with LLHTTP_STRICT_MODE, accepts "\r\n\n" as the end of
 * a head and folds a line that starts with SP or HT into the previous
 * header's value (obs-fold: CVE-2024-27982's Content-Length obfuscation).
 * A proxy in front that reads the same bytes differently smuggles a
 * request past it. So the bytes must first pass this scan, which accepts
 * only lines that end in CRLF and are not folded:
 *   - NUL anywhere                        -> bad
 *   - LF not preceded by CR (bare LF)     -> bad
 *   - CR not followed by LF (bare CR)     -> bad
 *   - CRLF followed by SP or HT (fold)    -> bad
 *   - CRLF CRLF                           -> the end
 * The scan is incremental: call it again with more bytes, it resumes where
 * it stopped (state carried in the struct).
 */
#ifndef COIL_HTTP_SCAN_H
#define COIL_HTTP_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct coil__http_scan {
	size_t pos;	/* bytes scanned so far */
	uint8_t state;	/* private */
};

enum {
	COIL__HTTP_SCAN_MORE = 0,	/* no end yet: scan again with more */
	COIL__HTTP_SCAN_END = 1,	/* *end set: the bytes up to it are a whole head */
	COIL__HTTP_SCAN_BAD = -1,	/* one of the sequences above */
};

/* Start a scan of a head: the first byte starts the request line. */
void coil__http_scan_head(struct coil__http_scan *s);

/* Start a scan of trailers: the first byte starts a line, so an immediate
 * CRLF is the end (a chunked body without trailers). */
void coil__http_scan_trailers(struct coil__http_scan *s);

/* Scan buf[s->pos .. len) (buf holds the same bytes as before, maybe more).
 * Returns COIL__HTTP_SCAN_END with *end the offset just past the final
 * CRLF, COIL__HTTP_SCAN_MORE, or COIL__HTTP_SCAN_BAD (s->pos then points at
 * the offending byte). */
int coil__http_scan(struct coil__http_scan *s, const char *buf, size_t len, size_t *end);

/* Not a status: find_head needs more bytes. */
#define COIL__HTTP_HEAD_MORE (-1)

/*
 * One step of finding the next head in in[*pos .. len), the bytes received
 * so far, with s started by coil__http_scan_head: empty lines before a
 * request line are skipped (RFC 9112 2.2; *pos moves past them), then what
 * is there is scanned. Returns 0 with *end the head's length from *pos, a
 * status to answer (400: a bad line; 431: a head past max_head; 414: a
 * request line that does not end within it), or COIL__HTTP_HEAD_MORE. The
 * server's connections (conn.c) and the parser's differential test
 * (tests/http_feed.c) both read heads this way.
 */
int coil__http_find_head(struct coil__http_scan *s, const char *in, size_t len, size_t *pos,
			 size_t max_head, size_t *end);

#endif
