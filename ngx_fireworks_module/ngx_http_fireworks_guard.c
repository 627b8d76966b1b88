
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The storm guard: a retry budget, a cap on waiting requests, and a gate
 * that shares one answer's Retry-After with every worker of the route.
 *
 * A retrying gateway multiplies load when the API is overloaded: the
 * budget keeps the requests in their retries to a share of those in
 * flight, fireworks_max_waiting bounds the waiting ones, both counted in
 * the zone across workers (under its mutex, so the limits are exact, and
 * per worker slot, so a dead worker leaves nothing counted).  The gate is
 * a time, not a count: a 429 or 503 with Retry-After closes it for the
 * route until then; retries that would start before it opens are held
 * and then given start times one pace apart, the pace being the rate at
 * which the API accepted answers before it closed, and a tenth more.
 */


#include "ngx_http_fireworks_module.h"


static ngx_http_fireworks_outcome_e ngx_http_fireworks_admit(
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf);
static ngx_http_fireworks_outcome_e ngx_http_fireworks_gate_slot(
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t *delay);
static ngx_msec_t ngx_http_fireworks_pace(ngx_http_fireworks_route_t *route);
static ngx_uint_t ngx_http_fireworks_rate(ngx_http_fireworks_route_t *route);
static void ngx_http_fireworks_accepted(ngx_http_fireworks_route_t *route);
static void ngx_http_fireworks_gate_close(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t until);
static void ngx_http_fireworks_held(ngx_http_fireworks_ctx_t *ctx);


#define ngx_http_fireworks_before(a, b)                                      \
    ((ngx_msec_int_t) ((a) - (b)) < 0)


/*
 * A retry decided on: within the budget and the waiting cap, and with a
 * start time the gate allows.  *delay may grow; OUTCOME_BUDGET or
 * OUTCOME_DEADLINE refuse the retry: its answer goes to the client.
 */

ngx_http_fireworks_outcome_e
ngx_http_fireworks_guard_retry(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t *delay)
{
    ngx_http_fireworks_outcome_e    outcome;
    ngx_http_fireworks_loc_conf_t  *flcf;

    if (ctx->route == NULL) {
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    outcome = ngx_http_fireworks_admit(ctx, flcf);

    if (outcome != NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        return outcome;
    }

    if (flcf->gate == NGX_HTTP_FIREWORKS_GATE_OFF) {
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    outcome = ngx_http_fireworks_gate_slot(ctx, delay);

    if (outcome != NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        ngx_http_fireworks_guard_release(ctx, 0);
    }

    return outcome;
}


/* the budget and the waiting cap, exact across workers: under the lock */

static ngx_http_fireworks_outcome_e
ngx_http_fireworks_admit(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_loc_conf_t *flcf)
{
    ngx_atomic_int_t             flying, retrying, limit;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;

    if (flcf->budget == 0 && flcf->max_waiting == 0) {
        ctx->waiting = (ngx_http_fireworks_gauge_add(ctx, route->waiting, 1)
                        == NGX_OK);
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (flcf->max_waiting
        && ngx_http_fireworks_gauge_sum(route->waiting)
           >= (ngx_atomic_int_t) flcf->max_waiting)
    {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_HTTP_FIREWORKS_OUTCOME_BUDGET;
    }

    if (flcf->budget && !ctx->retrying) {
        flying = ngx_http_fireworks_gauge_sum(route->in_flight);
        retrying = ngx_http_fireworks_gauge_sum(route->retrying);

        limit = ngx_max((ngx_atomic_int_t) flcf->budget_min,
                        flying * (ngx_atomic_int_t) flcf->budget / 100);

        if (retrying + 1 > limit) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_HTTP_FIREWORKS_OUTCOME_BUDGET;
        }

        ctx->retrying = (ngx_http_fireworks_gauge_add(ctx, route->retrying, 1)
                         == NGX_OK);
    }

    ctx->waiting = (ngx_http_fireworks_gauge_add(ctx, route->waiting, 1)
                    == NGX_OK);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
}


/*
 * A start time the gate allows for a retry that would start at now +
 * *delay.  One that would start before the gate opens, or before the
 * retries already held have started, is held: it takes the next paced
 * start, so that held retries start one pace apart, not as a burst.  A
 * start past the deadline refuses the retry now.
 */

static ngx_http_fireworks_outcome_e
ngx_http_fireworks_gate_slot(ngx_http_fireworks_ctx_t *ctx,
    ngx_msec_t *delay)
{
    ngx_msec_t                   own, until, next, start, pace;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;
    own = ngx_current_msec + *delay;

    until = route->gate_until;
    next = route->gate_next;

    if (!ngx_http_fireworks_before(own, until)
        && !ngx_http_fireworks_before(own, next))
    {
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    pace = ngx_http_fireworks_pace(route);

    for ( ;; ) {
        next = route->gate_next;

        start = ngx_http_fireworks_before(next, until) ? until : next;

        if (ngx_http_fireworks_before(start, own)) {
            start = own;
        }

        if (ctx->deadline && !ngx_http_fireworks_before(start, ctx->deadline))
        {
            return NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
        }

        if (ngx_atomic_cmp_set(&route->gate_next, next, start + pace)) {
            break;
        }
    }

    ctx->gate_wait += start - own;
    *delay = start - ngx_current_msec;

    ngx_http_fireworks_held(ctx);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "fireworks gate: held %Mms more, start in %Mms, pace %Mms",
                   start - own, *delay, pace);

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
}


/*
 * When a wait ends: NGX_OK to start the attempt, NGX_AGAIN to wait
 * *delay more (the gate closed meanwhile, or held retries go first),
 * NGX_DECLINED when that would pass the deadline.
 */

ngx_int_t
ngx_http_fireworks_guard_hold(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t *delay)
{
    ngx_http_fireworks_route_t     *route;
    ngx_http_fireworks_loc_conf_t  *flcf;

    route = ctx->route;

    if (route == NULL) {
        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (flcf->gate == NGX_HTTP_FIREWORKS_GATE_OFF
        || (ctx->attempts == 0 && flcf->gate != NGX_HTTP_FIREWORKS_GATE_ALL))
    {
        return NGX_OK;
    }

    /* a held retry has had its paced start, unless the gate closed again */

    if (ctx->held
        && !ngx_http_fireworks_before(ngx_current_msec, route->gate_until))
    {
        return NGX_OK;
    }

    *delay = 0;

    if (ngx_http_fireworks_gate_slot(ctx, delay)
        != NGX_HTTP_FIREWORKS_OUTCOME_NONE)
    {
        return NGX_DECLINED;
    }

    return (*delay == 0) ? NGX_OK : NGX_AGAIN;
}


/*
 * An attempt's answer: an accepted one counts for the pace, a 429 or 503
 * with a Retry-After closes the gate until then.
 */

void
ngx_http_fireworks_guard_answer(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status)
{
    ngx_msec_t                      ra;
    ngx_http_fireworks_loc_conf_t  *flcf;

    if (ctx->route == NULL) {
        return;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (flcf->gate == NGX_HTTP_FIREWORKS_GATE_OFF) {
        return;
    }

    if (status == NGX_HTTP_TOO_MANY_REQUESTS
        || status == NGX_HTTP_SERVICE_UNAVAILABLE)
    {
        if (ngx_http_fireworks_retry_after(ctx->attempt.sr, &ra) == NGX_OK) {
            ngx_http_fireworks_gate_close(r, ctx, ngx_current_msec + ra);
        }

        return;
    }

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_fireworks_accepted(ctx->route);
    }
}


static void
ngx_http_fireworks_gate_close(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t until)
{
    ngx_msec_t                   old, from;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;

    for ( ;; ) {
        old = route->gate_until;

        if (!ngx_http_fireworks_before(old, until)) {
            return;
        }

        if (ngx_atomic_cmp_set(&route->gate_until, old, until)) {
            break;
        }
    }

    from = ngx_http_fireworks_before(old, ngx_current_msec) ? ngx_current_msec
                                                            : old;

    if (from == ngx_current_msec) {

        /* it was open: the pace is what the API accepted until now */

        route->gate_rate = ngx_http_fireworks_rate(route);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fireworks: gate closed for %Mms, pace %uA/s",
                      until - ngx_current_msec, route->gate_rate);
    }

    (void) ngx_atomic_fetch_add(&route->gate_closed, until - from);
}


/*
 * Accepted answers per second, over the last full seconds: each counter
 * of the ring holds its second and its count, so that one compare and
 * set both starts a new second and counts in it.  The second is kept in
 * the bits above the count's 24: 40 of them where the atomic is 64 bits
 * wide, so that a counter left untouched for a while is never taken for
 * a current one; 8 where it is 32 bits wide.
 */

#define NGX_HTTP_FIREWORKS_OK_COUNT  0xffffff
#define NGX_HTTP_FIREWORKS_OK_SEC                                            \
    ((ngx_atomic_uint_t) -1 >> 24)

#define ngx_http_fireworks_ok_sec(sec)                                       \
    ((ngx_atomic_uint_t) (sec) & NGX_HTTP_FIREWORKS_OK_SEC)


static void
ngx_http_fireworks_accepted(ngx_http_fireworks_route_t *route)
{
    ngx_atomic_t      *ok;
    ngx_msec_t         sec;
    ngx_atomic_uint_t  v, n, tag;

    sec = ngx_current_msec / 1000;
    ok = &route->ok[sec % NGX_HTTP_FIREWORKS_RATE_SECONDS];
    tag = ngx_http_fireworks_ok_sec(sec);

    do {
        v = *ok;

        if ((v >> 24) != tag) {
            n = (tag << 24) + 1;

        } else if ((v & NGX_HTTP_FIREWORKS_OK_COUNT)
                   == NGX_HTTP_FIREWORKS_OK_COUNT)
        {
            return;

        } else {
            n = v + 1;
        }

    } while (!ngx_atomic_cmp_set(ok, v, n));
}


/*
 * The rate is over the seconds of the window that saw accepted answers:
 * a route that is new, or was quiet, has not been refused in the others,
 * and dividing by them would make its rate a fraction of what the API
 * took when asked.
 */

static ngx_uint_t
ngx_http_fireworks_rate(ngx_http_fireworks_route_t *route)
{
    ngx_msec_t         sec, s;
    ngx_uint_t         i, total, seconds;
    ngx_atomic_uint_t  v;

    sec = ngx_current_msec / 1000;
    total = 0;
    seconds = 0;

    for (i = 1; i <= NGX_HTTP_FIREWORKS_RATE_WINDOW; i++) {
        s = sec - i;
        v = route->ok[s % NGX_HTTP_FIREWORKS_RATE_SECONDS];

        if ((v >> 24) == ngx_http_fireworks_ok_sec(s)) {
            total += v & NGX_HTTP_FIREWORKS_OK_COUNT;
            seconds++;
        }
    }

    return seconds ? total / seconds : 0;
}


/*
 * ms between two held retries: a rate the API accepted, and a tenth more,
 * else 10/s.  Paced at exactly what it accepted, the API would never be
 * asked for more, and a pace learned when the route was quiet would stay
 * so; a tenth more finds out, and a refusal closes the gate again.
 */

static ngx_msec_t
ngx_http_fireworks_pace(ngx_http_fireworks_route_t *route)
{
    ngx_uint_t  rate;

    rate = ngx_max(route->gate_rate, ngx_http_fireworks_rate(route));

    if (rate == 0) {
        return 100;
    }

    rate += rate / 10 + 1;

    return (rate >= 1000) ? 1 : 1000 / rate;
}


ngx_msec_t
ngx_http_fireworks_gate_left(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_t  until;

    if (ctx->route == NULL) {
        return 0;
    }

    until = ctx->route->gate_until;

    return ngx_http_fireworks_before(ngx_current_msec, until)
           ? until - ngx_current_msec : 0;
}


static void
ngx_http_fireworks_held(ngx_http_fireworks_ctx_t *ctx)
{
    if (!ctx->held) {
        ctx->held = (ngx_http_fireworks_gauge_add(ctx, ctx->route->held, 1)
                     == NGX_OK);
    }
}


/*
 * A wait has ended (all = 0): the request waits and is held no more.
 * The request has ended (all = 1): nor is it retrying.
 */

void
ngx_http_fireworks_guard_release(ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t all)
{
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;

    if (route == NULL) {
        return;
    }

    if (ctx->waiting) {
        (void) ngx_http_fireworks_gauge_add(ctx, route->waiting, -1);
        ctx->waiting = 0;
    }

    if (ctx->held) {
        (void) ngx_http_fireworks_gauge_add(ctx, route->held, -1);
        ctx->held = 0;
    }

    if (all && ctx->retrying) {
        (void) ngx_http_fireworks_gauge_add(ctx, route->retrying, -1);
        ctx->retrying = 0;
    }
}


/*
 * The OpenAI SDKs retry 429 and 5xx twice more on their own unless told
 * "x-should-retry: false": behind a gateway that already retried, one
 * call would become three times the attempts.  With "auto" and the gate
 * closed the client gets the gate's remaining wait instead.
 */

ngx_int_t
ngx_http_fireworks_client_retry(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status)
{
    u_char                         *p;
    ngx_msec_t                      left;
    ngx_table_elt_t                *h;
    ngx_http_fireworks_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (flcf->client_retry == NGX_HTTP_FIREWORKS_CLIENT_RETRY_ON) {
        return NGX_OK;
    }

    switch (ctx->outcome) {

    case NGX_HTTP_FIREWORKS_OUTCOME_TRIES:
    case NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE:
    case NGX_HTTP_FIREWORKS_OUTCOME_RETRY_AFTER:
    case NGX_HTTP_FIREWORKS_OUTCOME_BUDGET:
        break;

    default:
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    left = ngx_http_fireworks_gate_left(ctx);

    if (flcf->client_retry == NGX_HTTP_FIREWORKS_CLIENT_RETRY_AUTO && left) {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&h->key, "retry-after-ms");
        h->value.data = p;
        h->value.len = ngx_sprintf(p, "%M", left) - p;

        return NGX_OK;
    }

    ngx_str_set(&h->key, "x-should-retry");
    ngx_str_set(&h->value, "false");

    return NGX_OK;
}
