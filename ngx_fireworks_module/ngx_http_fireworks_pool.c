
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The attempts' pools.  Each attempt runs in a pool of its own, given back
 * when the attempt is discarded, so that a request waiting in backoff
 * holds nothing of the attempts it made.  Creating and destroying an 8 KB
 * pool per attempt costs more than it seems: glibc gives the freed block
 * back at the top of the heap (brk), and the next attempt faults the page
 * in again.  A worker keeps a few reset pools instead: a pool that grew a
 * second block, or one past the cache's size, is destroyed as before, so
 * what the cache holds is bounded per worker whatever the traffic.
 */


#include "ngx_http_fireworks_module.h"


#define NGX_HTTP_FIREWORKS_POOLS  64


static ngx_pool_t  *ngx_http_fireworks_pools[NGX_HTTP_FIREWORKS_POOLS];
static ngx_uint_t   ngx_http_fireworks_npools;


ngx_pool_t *
ngx_http_fireworks_pool_get(ngx_log_t *log)
{
    ngx_pool_t  *pool;

    if (ngx_http_fireworks_npools == 0) {
        return ngx_create_pool(NGX_HTTP_FIREWORKS_POOL_SIZE, log);
    }

    pool = ngx_http_fireworks_pools[--ngx_http_fireworks_npools];
    pool->log = log;

    return pool;
}


void
ngx_http_fireworks_pool_put(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t  *c;

    if (pool->d.next != NULL
        || ngx_http_fireworks_npools == NGX_HTTP_FIREWORKS_POOLS
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        ngx_destroy_pool(pool);
        return;
    }

    /*
     * what ngx_destroy_pool() does before freeing, in its order: the
     * cleanups (temporary files of a buffered answer), then the large
     * allocations, which ngx_reset_pool() frees
     */

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    pool->cleanup = NULL;

    ngx_reset_pool(pool);

    /* the request's log goes with its connection */

    pool->log = ngx_cycle->log;

    ngx_http_fireworks_pools[ngx_http_fireworks_npools++] = pool;
}


void
ngx_http_fireworks_pool_free(void)
{
    while (ngx_http_fireworks_npools) {
        ngx_http_fireworks_npools--;
        ngx_destroy_pool(ngx_http_fireworks_pools[ngx_http_fireworks_npools]);
    }
}
