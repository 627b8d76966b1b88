
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The storm guard: a retry budget, a cap on waiting requests, and a gate
 * that paces the route's starts at the rate the API takes, across all
 * workers, learned from the API's answers alone.
 *
 * A retrying gateway multiplies load when the API is overloaded.  The
 * budget keeps the requests in their retries to a share of those in
 * flight, fireworks_max_waiting bounds the waiting ones, both counted in
 * the zone across workers (under its mutex, so the limits are exact, and
 * per worker slot, so a dead worker leaves nothing counted).
 *
 * The gate needs no header from the API: Fireworks' 429s and 503s carry
 * no Retry-After and no remaining count.  Its pace, a rate of starts, is
 * learned the way TCP learns a window: a 429 or 503 cuts it by a fifth,
 * once per round (a refusal of an attempt started before the last cut
 * says nothing new), an accepted answer raises it a little, and much
 * faster below the good pace, so that the route comes back quickly after
 * an outage.  A route starts being paced only when the refusals are more
 * than half the accepted answers: a steady share of refusals that the
 * API takes on retry is no limit, and pacing it would only shrink the
 * rate.  A Retry-After the request itself honours closes the gate until
 * then instead.  The pace and the gate live in the zone and are changed
 * with atomics only; a start takes the next paced slot with one compare
 * and set.
 *
 * A start the gate does not allow now is held: each worker keeps its held
 * requests of a route in order, and a timer of its own (the pacer) starts
 * the first of them at each slot it wins.  A request is held only while
 * its deadline leaves room for the wait and for an attempt; one that has
 * none gets its answer at once, and one still held when its last useful
 * start comes gets it then.
 */


#include "ngx_http_fireworks_module.h"


/* paces are in requests per 1000 s */
#define NGX_HTTP_FIREWORKS_PACE_FIRST   10000   /* nothing accepted yet */
#define NGX_HTTP_FIREWORKS_PACE_MIN     100

/* the least time an attempt is given before the deadline, ms */
#define NGX_HTTP_FIREWORKS_NEED_MIN     100


static ngx_http_fireworks_outcome_e ngx_http_fireworks_admit(
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf);
static ngx_uint_t ngx_http_fireworks_gate_busy(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_route_conf_t *rc);
static ngx_uint_t ngx_http_fireworks_gate_fits(ngx_http_fireworks_ctx_t *ctx,
    ngx_msec_t start);
static ngx_msec_t ngx_http_fireworks_need(ngx_http_fireworks_ctx_t *ctx);
static ngx_msec_t ngx_http_fireworks_give_up_in(
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_enqueue(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_route_conf_t *rc);
static void ngx_http_fireworks_pacer(ngx_event_t *ev);
static void ngx_http_fireworks_pacer_arm(ngx_http_fireworks_route_conf_t *rc,
    ngx_msec_t t);
static void ngx_http_fireworks_grant(ngx_http_fireworks_ctx_t *ctx);
static ngx_uint_t ngx_http_fireworks_take_slot(
    ngx_http_fireworks_route_t *route, ngx_atomic_uint_t pace);
static ngx_atomic_uint_t ngx_http_fireworks_interval(ngx_atomic_uint_t pace);
static ngx_atomic_uint_t ngx_http_fireworks_pace_start(
    ngx_http_fireworks_route_t *route);
static void ngx_http_fireworks_refused(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf);
static void ngx_http_fireworks_cut(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_accepted(ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_count_second(ngx_atomic_t *ring);
static ngx_uint_t ngx_http_fireworks_recent(ngx_atomic_t *ring);
static ngx_uint_t ngx_http_fireworks_rate(ngx_http_fireworks_route_t *route);
static ngx_atomic_uint_t ngx_http_fireworks_seen(
    ngx_http_fireworks_route_t *route);
static void ngx_http_fireworks_gate_close(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t until);
static void ngx_http_fireworks_waiting(ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_held(ngx_http_fireworks_ctx_t *ctx);


#define ngx_http_fireworks_before(a, b)                                      \
    ((ngx_msec_int_t) ((a) - (b)) < 0)

#define ngx_http_fireworks_before_us(a, b)                                   \
    ((ngx_atomic_int_t) ((a) - (b)) < 0)


/*
 * A retry decided on: within the waiting cap and, with the gate off,
 * the budget.  OUTCOME_BUDGET or OUTCOME_DEADLINE refuse the retry: its
 * answer goes to the client.  With the gate on, a retry over the budget
 * is held for a paced start instead (ngx_http_fireworks_guard_hold()),
 * and one that the gate could not start in time is refused now.
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

    if (!ngx_http_fireworks_gate_fits(ctx, ngx_current_msec + *delay)) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks gate: no start in time for the retry");
        ngx_http_fireworks_guard_release(ctx, 0);
        return NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
    }

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
}


/*
 * The budget (retries only) and the waiting cap, exact across workers:
 * under the lock.  The request is counted waiting when admitted.
 */

static ngx_http_fireworks_outcome_e
ngx_http_fireworks_admit(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_loc_conf_t *flcf)
{
    ngx_atomic_int_t             flying, retrying, limit;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;
    ctx->over_budget = 0;

    if (flcf->budget == 0 && flcf->max_waiting == 0) {
        ngx_http_fireworks_waiting(ctx);
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (flcf->max_waiting
        && ngx_http_fireworks_gauge_sum(route->waiting)
           >= (ngx_atomic_int_t) flcf->max_waiting)
    {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "fireworks guard: %ui waiting, no more",
                       flcf->max_waiting);

        return NGX_HTTP_FIREWORKS_OUTCOME_BUDGET;
    }

    if (flcf->budget && ctx->attempts && !ctx->retrying) {
        flying = ngx_http_fireworks_gauge_sum(route->in_flight);
        retrying = ngx_http_fireworks_gauge_sum(route->retrying);

        limit = ngx_max((ngx_atomic_int_t) flcf->budget_min,
                        flying * (ngx_atomic_int_t) flcf->budget / 100);

        if (retrying + 1 <= limit) {
            ctx->retrying = (ngx_http_fireworks_gauge_add(ctx,
                                                          route->retrying, 1)
                             == NGX_OK);

        } else if (flcf->gate == NGX_HTTP_FIREWORKS_GATE_OFF) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP,
                           ctx->request->connection->log, 0,
                           "fireworks guard: %A retrying of %A, over budget",
                           retrying, flying);

            return NGX_HTTP_FIREWORKS_OUTCOME_BUDGET;

        } else {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP,
                           ctx->request->connection->log, 0,
                           "fireworks guard: %A retrying of %A, over budget: "
                           "a paced start", retrying, flying);

            ctx->over_budget = 1;
        }
    }

    ngx_http_fireworks_waiting(ctx);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
}


/*
 * When a wait ends, or before a first attempt: NGX_OK to start the
 * attempt, NGX_AGAIN to wait up to *delay more (held by the gate: the
 * pacer cuts the wait short when the request's start comes),
 * NGX_DECLINED when no start leaves the deadline room for the attempt,
 * or a first attempt finds the waiting cap reached (it goes at once).
 */

ngx_int_t
ngx_http_fireworks_guard_hold(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t *delay)
{
    ngx_http_fireworks_loc_conf_t  *flcf;

    if (ctx->route == NULL) {
        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (flcf->gate == NGX_HTTP_FIREWORKS_GATE_OFF
        || (ctx->attempts == 0 && flcf->gate != NGX_HTTP_FIREWORKS_GATE_ALL))
    {
        return NGX_OK;
    }

    if (ctx->granted) {
        ctx->granted = 0;
        return NGX_OK;
    }

    if (ctx->queued) {

        /* its own timer: the last start that leaves room for an attempt */

        *delay = ngx_http_fireworks_give_up_in(ctx);

        if (*delay) {
            return NGX_AGAIN;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks gate: no start came in time");

        ngx_http_fireworks_guard_release(ctx, 0);

        return NGX_DECLINED;
    }

    if (!ngx_http_fireworks_gate_busy(ctx, flcf->route)) {
        return NGX_OK;
    }

    if (!ngx_http_fireworks_gate_fits(ctx, ngx_current_msec)) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks gate: no start in time, not held");
        return NGX_DECLINED;
    }

    if (ctx->attempts == 0
        && ngx_http_fireworks_admit(ctx, flcf)
           != NGX_HTTP_FIREWORKS_OUTCOME_NONE)
    {
        return NGX_DECLINED;
    }

    ngx_http_fireworks_enqueue(ctx, flcf->route);

    *delay = ngx_http_fireworks_give_up_in(ctx);

    if (*delay == 0) {
        *delay = 1;
    }

    return NGX_AGAIN;
}


/*
 * Whether a start now must wait: the gate is closed, this worker holds
 * requests that go first, or the pace has no slot free now.  A slot that
 * is free is taken.
 */

static ngx_uint_t
ngx_http_fireworks_gate_busy(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_route_conf_t *rc)
{
    ngx_atomic_uint_t            pace;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;

    if (ngx_http_fireworks_before(ngx_current_msec, route->gate_until)) {
        return 1;
    }

    if (rc->held.next != NULL && !ngx_queue_empty(&rc->held)) {
        return 1;
    }

    pace = ngx_http_fireworks_gate_pace(route);

    if (pace == 0) {
        if (!ctx->over_budget) {
            return 0;
        }

        pace = ngx_http_fireworks_pace_start(route);
    }

    return !ngx_http_fireworks_take_slot(route, pace);
}


/*
 * Whether a request held from start on would get a start that leaves its
 * deadline the time an attempt needs: after the gate opens and after the
 * requests the gate holds in all workers, one pace apart.
 */

static ngx_uint_t
ngx_http_fireworks_gate_fits(ngx_http_fireworks_ctx_t *ctx, ngx_msec_t start)
{
    uint64_t                     wait;
    ngx_msec_t                   until;
    ngx_atomic_int_t             n;
    ngx_atomic_uint_t            pace, next, now;
    ngx_http_fireworks_route_t  *route;

    if (ctx->deadline == 0) {
        return 1;
    }

    route = ctx->route;
    until = route->gate_until;

    if (ngx_http_fireworks_before(start, until)) {
        start = until;
    }

    pace = ngx_http_fireworks_gate_pace(route);

    if (pace) {
        now = (ngx_atomic_uint_t) ngx_current_msec * 1000;
        next = route->gate_next;

        if (ngx_http_fireworks_before_us(next, now)) {
            next = now;
        }

        n = ngx_http_fireworks_gauge_sum(route->held);
        n = (n < 0) ? 1 : n + 1;

        wait = ((uint64_t) (next - now)
                + (uint64_t) n * ngx_http_fireworks_interval(pace)) / 1000;

        if (wait >= NGX_HTTP_FIREWORKS_MAX_MSEC) {
            return 0;
        }

        if (ngx_http_fireworks_before(start, ngx_current_msec + wait)) {
            start = ngx_current_msec + (ngx_msec_t) wait;
        }
    }

    return ngx_http_fireworks_before(start + ngx_http_fireworks_need(ctx),
                                     ctx->deadline);
}


/*
 * The time an attempt needs: twice the route's accepted answers' time to
 * their header (a moving average), at least 100 ms, at most the attempt
 * timeout.
 */

static ngx_msec_t
ngx_http_fireworks_need(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_t  need;

    need = 2 * (ngx_msec_t) ctx->route->gate_answer;

    if (need < NGX_HTTP_FIREWORKS_NEED_MIN) {
        need = NGX_HTTP_FIREWORKS_NEED_MIN;
    }

    if (ctx->limits.attempt_timeout && need > ctx->limits.attempt_timeout) {
        need = ctx->limits.attempt_timeout;
    }

    return need;
}


/* ms until a held request's last useful start, 0: it has come */

static ngx_msec_t
ngx_http_fireworks_give_up_in(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_t  last;

    if (ctx->deadline == 0) {
        return NGX_HTTP_FIREWORKS_MAX_MSEC;
    }

    last = ctx->deadline - ngx_http_fireworks_need(ctx);

    return ngx_http_fireworks_before(ngx_current_msec, last)
           ? last - ngx_current_msec : 0;
}


static void
ngx_http_fireworks_enqueue(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_route_conf_t *rc)
{
    if (rc->held.next == NULL) {
        ngx_queue_init(&rc->held);
        rc->pacer.handler = ngx_http_fireworks_pacer;
        rc->pacer.data = rc;
        rc->pacer.cancelable = 1;
    }

    rc->pacer.log = ngx_cycle->log;

    ngx_queue_insert_tail(&rc->held, &ctx->queue);
    ctx->queued = 1;
    ctx->held_at = ngx_current_msec;

    ngx_http_fireworks_held(ctx);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "fireworks gate: held, pace %uA/1000s",
                   ngx_http_fireworks_gate_pace(ctx->route));

    if (!rc->pacer.timer_set && !rc->pacer.posted) {
        ngx_post_event(&rc->pacer, &ngx_posted_events);
    }
}


/*
 * A worker's pacer of a route: while it holds requests, it starts the
 * first at each slot of the pace it wins, and sleeps until the gate
 * opens or the next slot.  The workers' pacers race for the slots: each
 * wakes a random part of a pace late, so that no worker wins them all.
 */

static void
ngx_http_fireworks_pacer(ngx_event_t *ev)
{
    ngx_msec_t                        until;
    ngx_queue_t                      *q;
    ngx_atomic_uint_t                 pace, next, now, iv;
    ngx_http_fireworks_ctx_t         *ctx;
    ngx_http_fireworks_route_t       *route;
    ngx_http_fireworks_route_conf_t  *rc;

    rc = ev->data;
    route = rc->block;

    while (!ngx_queue_empty(&rc->held)) {

        until = route->gate_until;

        if (ngx_http_fireworks_before(ngx_current_msec, until)) {
            ngx_http_fireworks_pacer_arm(rc, until - ngx_current_msec);
            return;
        }

        pace = ngx_http_fireworks_gate_pace(route);

        if (pace && !ngx_http_fireworks_take_slot(route, pace)) {
            now = (ngx_atomic_uint_t) ngx_current_msec * 1000;
            next = route->gate_next;
            iv = ngx_http_fireworks_interval(pace);

            next = ngx_http_fireworks_before_us(now, next) ? next - now : 0;
            next += (ngx_atomic_uint_t) ngx_random() % (iv / 2 + 1) + 999;

            ngx_http_fireworks_pacer_arm(rc, (ngx_msec_t) (next / 1000));
            return;
        }

        q = ngx_queue_head(&rc->held);
        ctx = ngx_queue_data(q, ngx_http_fireworks_ctx_t, queue);

        ngx_http_fireworks_grant(ctx);
    }
}


static void
ngx_http_fireworks_pacer_arm(ngx_http_fireworks_route_conf_t *rc,
    ngx_msec_t t)
{
    if (rc->pacer.timer_set) {
        ngx_del_timer(&rc->pacer);
    }

    ngx_add_timer(&rc->pacer, t ? t : 1);
}


/* the pacer's slot goes to a held request: its wait ends now */

static void
ngx_http_fireworks_grant(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_queue_remove(&ctx->queue);
    ctx->queued = 0;
    ctx->granted = 1;
    ctx->gate_wait += ngx_current_msec - ctx->held_at;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "fireworks gate: start after %Mms held",
                   ngx_current_msec - ctx->held_at);

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ngx_post_event(&ctx->timer, &ngx_posted_events);
}


/*
 * The next paced slot, if it has come: one compare and set.  A slot a
 * little late (less than a pace) is not lost: the next comes one pace
 * after the one missed, so that the workers' races cost no rate.
 */

static ngx_uint_t
ngx_http_fireworks_take_slot(ngx_http_fireworks_route_t *route,
    ngx_atomic_uint_t pace)
{
    ngx_atomic_uint_t  next, now, iv, from;

    now = (ngx_atomic_uint_t) ngx_current_msec * 1000;
    iv = ngx_http_fireworks_interval(pace);
    next = route->gate_next;

    if (ngx_http_fireworks_before_us(now, next)) {
        return 0;
    }

    from = ngx_http_fireworks_before_us(next, now - iv) ? now - iv : next;

    return ngx_atomic_cmp_set(&route->gate_next, next, from + iv);
}


/* us between two paced starts */

static ngx_atomic_uint_t
ngx_http_fireworks_interval(ngx_atomic_uint_t pace)
{
    ngx_atomic_uint_t  iv;

    iv = (ngx_atomic_uint_t) 1000000000 / pace;

    return iv ? iv : 1;
}


/*
 * The pace, or 0 when there is none: never learned, or no refusal for
 * NGX_HTTP_FIREWORKS_PACE_KEEP since the last one or since the gate last
 * opened.
 */

ngx_atomic_uint_t
ngx_http_fireworks_gate_pace(ngx_http_fireworks_route_t *route)
{
    ngx_msec_t         last, until;
    ngx_atomic_uint_t  pace;

    pace = route->gate_rate;

    if (pace == 0) {
        return 0;
    }

    last = route->gate_refused;
    until = route->gate_until;

    if (ngx_http_fireworks_before(last, until)) {
        last = until;
    }

    if (ngx_http_fireworks_before(last + NGX_HTTP_FIREWORKS_PACE_KEEP,
                                  ngx_current_msec))
    {
        return 0;
    }

    return pace;
}


/* a pace where there was none: what the API accepted lately */

static ngx_atomic_uint_t
ngx_http_fireworks_pace_start(ngx_http_fireworks_route_t *route)
{
    ngx_atomic_uint_t  pace, old;

    old = route->gate_rate;
    route->gate_refused = ngx_current_msec;

    pace = ngx_http_fireworks_gate_pace(route);

    if (pace) {
        return pace;
    }

    pace = ngx_http_fireworks_seen(route);

    if (pace == 0) {
        pace = NGX_HTTP_FIREWORKS_PACE_FIRST;
    }

    if (ngx_atomic_cmp_set(&route->gate_rate, old, pace)) {
        route->gate_good = pace;
        return pace;
    }

    pace = route->gate_rate;

    return pace ? pace : NGX_HTTP_FIREWORKS_PACE_FIRST;
}


/*
 * An attempt's answer: an accepted one raises the pace, a 429 or 503
 * closes the gate or cuts the pace.
 */

void
ngx_http_fireworks_guard_answer(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status)
{
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
        ngx_http_fireworks_refused(r, ctx, flcf);
        return;
    }

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_fireworks_accepted(ctx);
    }
}


/*
 * A refusal: a Retry-After the request honours (fireworks_retry_after on,
 * not over fireworks_retry_after_max) closes the gate until then; the
 * wait is the API's own answer to "how fast", so the pace stays.  Without
 * one the pace is cut.
 */

static void
ngx_http_fireworks_refused(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf)
{
    ngx_msec_t  ra;

    ngx_http_fireworks_count_second(ctx->route->ko);
    ctx->route->gate_refused = ngx_current_msec;

    if (flcf->retry_after
        && ngx_http_fireworks_retry_after(ctx->attempt.sr, &ra) == NGX_OK)
    {
        if (ra <= flcf->retry_after_max) {
            ngx_http_fireworks_gate_close(r, ctx, ngx_current_msec + ra);
            return;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks gate: retry after %Mms over the max, "
                       "the gate stays open", ra);
    }

    ngx_http_fireworks_cut(r, ctx);
}


/*
 * Multiplicative decrease: the pace by a fifth, once per round: a refusal
 * of an attempt that started before the last cut was sent at the pace
 * already cut.  A route that is not paced starts pacing only when the
 * refusals of the last two seconds are more than half the accepted
 * answers (a third of all): an API that refuses a steady share whatever
 * the rate, and takes the retries, is not over its limit, and pacing it
 * would only shrink the rate it is given.  The pace cut to, or the rate
 * the API accepted lately if higher, is the good pace: below it the pace
 * comes back fast, and never goes below half of it, so that an outage
 * keeps probes going and the route is back within a second of the API.
 * Cuts without an accepted answer between them (an outage) keep the good
 * pace of the first.
 */

static void
ngx_http_fireworks_cut(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_t                   cut;
    ngx_uint_t                   ok, ko;
    ngx_atomic_uint_t            pace, good, floor, seen;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;
    pace = ngx_http_fireworks_gate_pace(route);

    if (pace == 0) {
        ok = ngx_http_fireworks_recent(route->ok);
        ko = ngx_http_fireworks_recent(route->ko);

        if (2 * ko <= ok) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "fireworks gate: %ui refused, %ui accepted: "
                           "not paced", ko, ok);
            return;
        }
    }

    cut = route->gate_cut;

    if (!ngx_http_fireworks_before(cut, ctx->attempt.start)) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks gate: refused, started before the last cut");
        return;
    }

    if (!ngx_atomic_cmp_set(&route->gate_cut, cut, ngx_current_msec)) {
        return;
    }

    seen = ngx_http_fireworks_seen(route);
    good = route->gate_good;

    if (pace == 0) {
        pace = seen ? seen : NGX_HTTP_FIREWORKS_PACE_FIRST;
        good = 0;
    }

    if (good == 0 || !ngx_http_fireworks_before(route->gate_ok_at, cut)) {
        good = ngx_max(pace / 5 * 4, seen);
        route->gate_good = good;
    }

    floor = ngx_max(good / 2, NGX_HTTP_FIREWORKS_PACE_MIN);

    pace = pace / 5 * 4;
    route->gate_rate = ngx_max(pace, floor);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fireworks: gate pace cut to %uA.%03uA/s",
                  route->gate_rate / 1000, route->gate_rate % 1000);
}


/*
 * Additive increase: a sixteenth of the good pace per second, at least
 * one request per second per second; below the good pace three requests
 * per second more per answer, which brings it back from half of it in a
 * quarter of a second.
 * Never above twice the rate the API accepted lately: a route that asks
 * less than its pace learns nothing about a higher one.
 */

static void
ngx_http_fireworks_accepted(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_int_t               ms, avg;
    ngx_atomic_uint_t            pace, good, inc, cap;
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;

    ngx_http_fireworks_count_second(route->ok);
    route->gate_ok_at = ngx_current_msec;

    /* the time an answer takes: a moving average, a racy one is enough */

    ms = (ngx_msec_int_t) (ngx_current_msec - ctx->attempt.start);
    avg = (ngx_msec_int_t) route->gate_answer;
    route->gate_answer = (ngx_atomic_uint_t) (avg + (ms - avg) / 8);

    pace = ngx_http_fireworks_gate_pace(route);

    if (pace == 0) {
        return;
    }

    good = route->gate_good;

    if (pace < good) {
        inc = 3000;

    } else {
        inc = ngx_max(good / 16, 1000) * 1000 / pace;
        inc = inc ? inc : 1;
    }

    cap = ngx_max(2 * ngx_http_fireworks_seen(route),
                  ngx_max(good, NGX_HTTP_FIREWORKS_PACE_FIRST));

    if (pace + inc > cap) {
        return;
    }

    (void) ngx_atomic_cmp_set(&route->gate_rate, pace, pace + inc);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "fireworks gate: pace %uA/1000s", pace + inc);
}


static void
ngx_http_fireworks_gate_close(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t until)
{
    ngx_msec_t                   old, from;
    ngx_atomic_uint_t            pace;
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

    /* the requests held meanwhile start paced when it opens */

    pace = ngx_http_fireworks_pace_start(route);

    if (from == ngx_current_msec) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fireworks: gate closed for %Mms, pace %uA/s",
                      until - ngx_current_msec, pace / 1000);
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
ngx_http_fireworks_count_second(ngx_atomic_t *ring)
{
    ngx_atomic_t      *ok;
    ngx_msec_t         sec;
    ngx_atomic_uint_t  v, n, tag;

    sec = ngx_current_msec / 1000;
    ok = &ring[sec % NGX_HTTP_FIREWORKS_RATE_SECONDS];
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
 * What the API accepted lately, per 1000 s: the rate of the last full
 * seconds, or this second's count if more (a route that has just
 * started has no full second yet).
 */

static ngx_atomic_uint_t
ngx_http_fireworks_seen(ngx_http_fireworks_route_t *route)
{
    ngx_msec_t         sec;
    ngx_uint_t         rate, now;
    ngx_atomic_uint_t  v;

    sec = ngx_current_msec / 1000;
    v = route->ok[sec % NGX_HTTP_FIREWORKS_RATE_SECONDS];

    now = ((v >> 24) == ngx_http_fireworks_ok_sec(sec))
          ? (ngx_uint_t) (v & NGX_HTTP_FIREWORKS_OK_COUNT) : 0;

    rate = ngx_http_fireworks_rate(route);

    return (ngx_atomic_uint_t) ngx_max(rate, now) * 1000;
}


/* the counts of this second and the one before */

static ngx_uint_t
ngx_http_fireworks_recent(ngx_atomic_t *ring)
{
    ngx_msec_t         sec, s;
    ngx_uint_t         i, total;
    ngx_atomic_uint_t  v;

    sec = ngx_current_msec / 1000;
    total = 0;

    for (i = 0; i < 2; i++) {
        s = sec - i;
        v = ring[s % NGX_HTTP_FIREWORKS_RATE_SECONDS];

        if ((v >> 24) == ngx_http_fireworks_ok_sec(s)) {
            total += v & NGX_HTTP_FIREWORKS_OK_COUNT;
        }
    }

    return total;
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


/*
 * The gauges of the guard are raised here and released in
 * ngx_http_fireworks_guard_release() only.
 */

static void
ngx_http_fireworks_waiting(ngx_http_fireworks_ctx_t *ctx)
{
    if (!ctx->waiting) {
        ctx->waiting = (ngx_http_fireworks_gauge_add(ctx,
                                                     ctx->route->waiting, 1)
                        == NGX_OK);
    }
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
 * A wait has ended (all = 0): the request waits and is held no more, and
 * leaves the gate's queue.  The request has ended (all = 1): nor is it
 * retrying.
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

    if (ctx->queued) {
        ngx_queue_remove(&ctx->queue);
        ctx->queued = 0;
        ctx->gate_wait += ngx_current_msec - ctx->held_at;
    }

    ctx->granted = 0;

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
