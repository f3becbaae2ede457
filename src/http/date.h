/* The Date header, formatted once a second per worker (thread). */
#ifndef COIL_HTTP_DATE_H
#define COIL_HTTP_DATE_H

#include <stddef.h>

/* "Date: Sun, 06 Dec 2026 18:20:47 GMT\r\n" for now; *len its length. The
 * bytes belong to the calling thread and change when the second does. */
const char *coil__http_date(size_t *len);

#endif
