/*
 * The Date header of every response (RFC 9110 6.6.1), in IMF-fixdate. It
 * changes once a second, so each worker thread keeps the line it made
 * last; a response costs a time(2) (the vDSO: no syscall) and a compare.
 */
#include "http/date.h"

#include <string.h>
#include <time.h>

static __thread time_t date_sec = -1;
static __thread char date_line[64];
static __thread size_t date_len;

const char *coil__http_date(size_t *len)
{
	time_t now = time(NULL);
	if (now != date_sec) {
		static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
		static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
						   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
		struct tm tm;
		gmtime_r(&now, &tm);
		/* strftime's %a and %b follow the locale; HTTP's are English. */
		char *p = date_line;
		memcpy(p, "Date: ", 6);
		p += 6;
		memcpy(p, days[tm.tm_wday], 3);
		p += 3;
		*p++ = ',';
		*p++ = ' ';
		p += strftime(p, 4, "%d ", &tm);
		memcpy(p, months[tm.tm_mon], 3);
		p += 3;
		p += strftime(p, 32, " %Y %H:%M:%S GMT\r\n", &tm);
		date_len = (size_t)(p - date_line);
		date_sec = now;
	}
	*len = date_len;
	return date_line;
}
