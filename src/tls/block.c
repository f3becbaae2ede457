/*
 * The thread's cache of TLS blocks (tls.h): COIL__TLS_BLOCK-byte buffers
 * that streams take per request and give back before they wait.
 */
#include <pthread.h>
#include <stdlib.h>

#include "tls/tls.h"

/*
 * A lending read holds its record buffer only while it has bytes, and the
 * output buffer is given back once sent: both are taken per request and
 * given back before the stream waits on the socket, so an idle stream
 * holds neither. Each thread keeps a few given-back blocks: 16 KiB
 * malloc'ed and freed per request would cost a malloc and a free each
 * (and make glibc trim and grow the heap top: see http/conn.c).
 */
#define BLOCK_CACHE 32

static __thread void *block_cache[BLOCK_CACHE];
static __thread unsigned block_cached;
static pthread_key_t block_key;
static pthread_once_t block_once = PTHREAD_ONCE_INIT;

static void block_cache_drop(void *unused)
{
	(void)unused;
	while (block_cached > 0)
		free(block_cache[--block_cached]);
}

static void block_key_make(void)
{
	pthread_key_create(&block_key, block_cache_drop);
}

unsigned char *coil__tls_block_get(void)
{
	if (block_cached > 0)
		return block_cache[--block_cached];
	return malloc(COIL__TLS_BLOCK);
}

void coil__tls_block_put(unsigned char *p)
{
	if (p == NULL)
		return;
	if (block_cached < BLOCK_CACHE) {
		pthread_once(&block_once, block_key_make);
		if (block_cached == 0)
			pthread_setspecific(block_key, block_cache); /* any non-NULL */
		block_cache[block_cached++] = p;
		return;
	}
	free(p);
}
