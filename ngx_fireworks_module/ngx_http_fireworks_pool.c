
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The attempts' pools.  Each attempt runs in a pool of its own, given back
 * when the attempt is discarded, so that a request waiting in backoff
 * holds nothing of the attempts it made.
 *
 * Freeing is not enough for the worker's memory to shrink, though: the
 * attempt's blocks would come from the heap, between the blocks of
 * requests that live on, and glibc keeps such a hole resident until
 * something of the right size fills it.  So an attempt's pool is a
 * mapping of its own, outside the heap: munmap() gives its pages back to
 * the system at once.  The mapping is large (64 KB of address space) and
 * the pool may allocate all of it, the upstream's buffers included,
 * which a pool from ngx_create_pool() would take from the heap one by one
 * as large allocations; only the pages an attempt touches are resident.
 *
 * A mapping and the page faults of a fresh one cost a few system calls
 * per attempt, so a worker keeps a few reset pools: one past the cache's
 * size is unmapped, and an exiting worker caches none.
 */


#include "ngx_http_fireworks_module.h"


#define NGX_HTTP_FIREWORKS_POOLS  64


static void ngx_http_fireworks_pool_clear(ngx_pool_t *pool);
static void ngx_http_fireworks_pool_destroy(ngx_pool_t *pool);


static ngx_pool_t  *ngx_http_fireworks_pools[NGX_HTTP_FIREWORKS_POOLS];
static ngx_uint_t   ngx_http_fireworks_npools;


#if (NGX_HAVE_MAP_ANON)

static ngx_pool_t *
ngx_http_fireworks_pool_create(ngx_log_t *log)
{
    u_char      *m;
    ngx_pool_t  *p;

    m = mmap(NULL, NGX_HTTP_FIREWORKS_POOL_SIZE, PROT_READ|PROT_WRITE,
             MAP_ANON|MAP_PRIVATE, -1, 0);

    if (m == MAP_FAILED) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mmap(MAP_ANON|MAP_PRIVATE, %uz) failed",
                      (size_t) NGX_HTTP_FIREWORKS_POOL_SIZE);
        return NULL;
    }

    /* as ngx_create_pool() does, but the whole mapping is the pool's */

    p = (ngx_pool_t *) m;

    p->d.last = m + sizeof(ngx_pool_t);
    p->d.end = m + NGX_HTTP_FIREWORKS_POOL_SIZE;
    p->d.next = NULL;
    p->d.failed = 0;

    p->max = NGX_HTTP_FIREWORKS_POOL_SIZE - sizeof(ngx_pool_t);
    p->current = p;
    p->chain = NULL;
    p->large = NULL;
    p->cleanup = NULL;
    p->log = log;

    return p;
}


static void
ngx_http_fireworks_pool_destroy(ngx_pool_t *pool)
{
    ngx_http_fireworks_pool_clear(pool);

    if (munmap((void *) pool, NGX_HTTP_FIREWORKS_POOL_SIZE) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "munmap(%p, %uz) failed", pool,
                      (size_t) NGX_HTTP_FIREWORKS_POOL_SIZE);
    }
}

#else

static ngx_pool_t *
ngx_http_fireworks_pool_create(ngx_log_t *log)
{
    return ngx_create_pool(NGX_HTTP_FIREWORKS_POOL_SIZE, log);
}


static void
ngx_http_fireworks_pool_destroy(ngx_pool_t *pool)
{
    ngx_http_fireworks_pool_clear(pool);
    ngx_free(pool);
}

#endif


ngx_pool_t *
ngx_http_fireworks_pool_get(ngx_log_t *log)
{
    ngx_pool_t  *pool;

    if (ngx_http_fireworks_npools == 0) {
        return ngx_http_fireworks_pool_create(log);
    }

    pool = ngx_http_fireworks_pools[--ngx_http_fireworks_npools];
    pool->log = log;

    return pool;
}


void
ngx_http_fireworks_pool_put(ngx_pool_t *pool)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "fireworks attempt pool: %uz used%s",
                   (size_t) (pool->d.last - (u_char *) pool),
                   pool->d.next ? ", grown" : "");

#if (NGX_DEBUG_PALLOC)

    /*
     * no cache when nginx checks its pools: an attempt's pool is unmapped
     * as soon as it ends, and any later use of it faults
     */

    ngx_http_fireworks_pool_destroy(pool);
    return;

#endif

    if (ngx_http_fireworks_npools == NGX_HTTP_FIREWORKS_POOLS
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        ngx_http_fireworks_pool_destroy(pool);
        return;
    }

    ngx_http_fireworks_pool_clear(pool);

    pool->d.next = NULL;
    pool->d.failed = 0;
    pool->current = pool;

    /* the request's log goes with its connection */

    pool->log = ngx_cycle->log;

    ngx_http_fireworks_pools[ngx_http_fireworks_npools++] = pool;
}


void
ngx_http_fireworks_pool_free(void)
{
    while (ngx_http_fireworks_npools) {
        ngx_http_fireworks_npools--;
        ngx_http_fireworks_pool_destroy(
                          ngx_http_fireworks_pools[ngx_http_fireworks_npools]);
    }
}


/*
 * What ngx_destroy_pool() does but free the pool's first block, in its
 * order: the cleanups (temporary files of a buffered answer), the large
 * allocations, then the blocks the pool grew, which come from the heap.
 */

static void
ngx_http_fireworks_pool_clear(ngx_pool_t *pool)
{
    ngx_pool_t          *p, *n;
    ngx_pool_cleanup_t  *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    pool->cleanup = NULL;

    ngx_reset_pool(pool);

    for (p = pool->d.next; p; p = n) {
        n = p->d.next;
        ngx_free(p);
    }
}
