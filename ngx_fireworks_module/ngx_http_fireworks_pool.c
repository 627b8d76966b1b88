
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
 * mapping of its own, outside the heap, and munmap() gives its pages back
 * to the system.  The mapping is large (64 KB of address space) and the
 * pool may allocate all of it, the upstream's buffers included, which a
 * pool from ngx_create_pool() would take from the heap one by one as
 * large allocations; only the pages an attempt touches are resident.
 *
 * Mapping and unmapping per attempt would cost system calls, page faults
 * and TLB flushes on every attempt (on a virtual machine, 80 us each when
 * 10,000 requests retry at once), so a worker keeps the pools its
 * attempts gave back, reset, for the next attempts.  Those it did not
 * need for a whole second, past the first 64, are unmapped then, by
 * address ranges: a burst of retries reuses its pools, and a request
 * that goes on waiting holds none of them a second later.
 */


#include "ngx_http_fireworks_module.h"


/* kept whatever the traffic, and how long a pool beyond them may idle */
#define NGX_HTTP_FIREWORKS_POOLS      64
#define NGX_HTTP_FIREWORKS_POOL_IDLE  1000


static ngx_pool_t *ngx_http_fireworks_pool_create(ngx_log_t *log);
static void ngx_http_fireworks_pool_trim(ngx_event_t *ev);
static void ngx_http_fireworks_pool_unmap(ngx_pool_t *pool, ngx_uint_t n);
static void ngx_http_fireworks_pool_clear(ngx_pool_t *pool);


/* a stack of reset pools, linked by d.next */

static ngx_pool_t       *ngx_http_fireworks_free;
static ngx_uint_t        ngx_http_fireworks_nfree;

/* the fewest free pools since the trim timer was set: those below idled */

static ngx_uint_t        ngx_http_fireworks_nlow;

static ngx_event_t       ngx_http_fireworks_trim_event;

/* what the event's debug log lines name (ngx_event_ident()) */

static ngx_connection_t  ngx_http_fireworks_trim_conn;


ngx_pool_t *
ngx_http_fireworks_pool_get(ngx_log_t *log)
{
    ngx_pool_t  *pool;

    pool = ngx_http_fireworks_free;

    if (pool == NULL) {
        return ngx_http_fireworks_pool_create(log);
    }

    ngx_http_fireworks_free = pool->d.next;
    ngx_http_fireworks_nfree--;

    if (ngx_http_fireworks_nfree < ngx_http_fireworks_nlow) {
        ngx_http_fireworks_nlow = ngx_http_fireworks_nfree;
    }

    pool->d.next = NULL;
    pool->log = log;

    return pool;
}


void
ngx_http_fireworks_pool_put(ngx_pool_t *pool)
{
    ngx_event_t  *ev;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "fireworks attempt pool: %uz used%s",
                   (size_t) (pool->d.last - (u_char *) pool),
                   pool->d.next ? ", grown" : "");

    ngx_http_fireworks_pool_clear(pool);

#if (NGX_DEBUG_PALLOC)

    /*
     * nothing kept when nginx checks its pools: an attempt's pool is
     * unmapped as soon as it ends, and any later use of it faults
     */

    ngx_http_fireworks_pool_unmap(pool, 1);
    return;

#endif

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_fireworks_pool_unmap(pool, 1);
        return;
    }

    pool->d.next = ngx_http_fireworks_free;

    /* the request's log goes with its connection */

    pool->log = ngx_cycle->log;

    ngx_http_fireworks_free = pool;
    ngx_http_fireworks_nfree++;

    ev = &ngx_http_fireworks_trim_event;

    if (ngx_http_fireworks_nfree > NGX_HTTP_FIREWORKS_POOLS
        && !ev->timer_set)
    {
        ngx_http_fireworks_trim_conn.fd = (ngx_socket_t) -1;

        ev->handler = ngx_http_fireworks_pool_trim;
        ev->data = &ngx_http_fireworks_trim_conn;
        ev->log = ngx_cycle->log;
        ev->cancelable = 1;

        ngx_http_fireworks_nlow = ngx_http_fireworks_nfree;
        ngx_add_timer(ev, NGX_HTTP_FIREWORKS_POOL_IDLE);
    }
}


void
ngx_http_fireworks_pool_free(void)
{
    if (ngx_http_fireworks_trim_event.timer_set) {
        ngx_del_timer(&ngx_http_fireworks_trim_event);
    }

    ngx_http_fireworks_pool_unmap(ngx_http_fireworks_free,
                                  ngx_http_fireworks_nfree);

    ngx_http_fireworks_free = NULL;
    ngx_http_fireworks_nfree = 0;
}


/*
 * The pools below the fewest free since the timer was set were not used
 * for a whole period: past the first NGX_HTTP_FIREWORKS_POOLS, they go.
 * The stack's top is what attempts took and gave back; its bottom idled.
 */

static void
ngx_http_fireworks_pool_trim(ngx_event_t *ev)
{
    ngx_uint_t   i, keep;
    ngx_pool_t  *p, *idle;

    keep = ngx_http_fireworks_nfree;

    if (ngx_http_fireworks_nlow > NGX_HTTP_FIREWORKS_POOLS) {
        keep -= ngx_http_fireworks_nlow - NGX_HTTP_FIREWORKS_POOLS;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "fireworks attempt pools: %ui free, %ui idle, %ui kept",
                   ngx_http_fireworks_nfree, ngx_http_fireworks_nlow, keep);

    if (keep < ngx_http_fireworks_nfree) {

        if (keep == 0) {
            idle = ngx_http_fireworks_free;
            ngx_http_fireworks_free = NULL;

        } else {
            p = ngx_http_fireworks_free;

            for (i = 1; i < keep; i++) {
                p = p->d.next;
            }

            idle = p->d.next;
            p->d.next = NULL;
        }

        ngx_http_fireworks_pool_unmap(idle, ngx_http_fireworks_nfree - keep);
        ngx_http_fireworks_nfree = keep;
    }

    ngx_http_fireworks_nlow = ngx_http_fireworks_nfree;

    if (ngx_http_fireworks_nfree > NGX_HTTP_FIREWORKS_POOLS) {
        ngx_add_timer(ev, NGX_HTTP_FIREWORKS_POOL_IDLE);
    }
}


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


static int ngx_libc_cdecl
ngx_http_fireworks_pool_cmp(const void *one, const void *two)
{
    uintptr_t  a, b;

    a = (uintptr_t) *(ngx_pool_t **) one;
    b = (uintptr_t) *(ngx_pool_t **) two;

    return (a < b) ? -1 : (a > b);
}


/*
 * N cleared pools, linked by d.next.  Mappings of the same size are laid
 * side by side by the kernel: sorted by address, each run of adjacent
 * ones is one munmap(), one TLB flush, rather than one per pool.
 */

static void
ngx_http_fireworks_pool_unmap(ngx_pool_t *pool, ngx_uint_t n)
{
    size_t        size;
    u_char       *start;
    ngx_uint_t    i;
    ngx_pool_t   *one, **pools;

    if (n == 0 || pool == NULL) {
        return;
    }

    pools = (n > 1) ? ngx_alloc(n * sizeof(ngx_pool_t *), ngx_cycle->log)
                    : NULL;

    if (pools == NULL) {
        pools = &one;
        n = 1;
    }

    for ( ;; ) {

        for (i = 0; i < n && pool; i++) {
            pools[i] = pool;
            pool = pool->d.next;
        }

        n = i;

        ngx_qsort(pools, n, sizeof(ngx_pool_t *), ngx_http_fireworks_pool_cmp);

        start = (u_char *) pools[0];
        size = NGX_HTTP_FIREWORKS_POOL_SIZE;

        for (i = 1; i <= n; i++) {

            if (i < n && (u_char *) pools[i] == start + size) {
                size += NGX_HTTP_FIREWORKS_POOL_SIZE;
                continue;
            }

            if (munmap((void *) start, size) == -1) {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                              "munmap(%p, %uz) failed", start, size);
            }

            if (i < n) {
                start = (u_char *) pools[i];
                size = NGX_HTTP_FIREWORKS_POOL_SIZE;
            }
        }

        if (pool == NULL) {
            break;
        }
    }

    if (pools != &one) {
        ngx_free(pools);
    }
}

#else

static ngx_pool_t *
ngx_http_fireworks_pool_create(ngx_log_t *log)
{
    return ngx_create_pool(NGX_HTTP_FIREWORKS_POOL_SIZE, log);
}


static void
ngx_http_fireworks_pool_unmap(ngx_pool_t *pool, ngx_uint_t n)
{
    ngx_pool_t  *next;

    while (n-- && pool) {
        next = pool->d.next;
        ngx_free(pool);
        pool = next;
    }
}

#endif


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

    pool->d.next = NULL;
}
