
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The request flow: read the body once, run each attempt as a subrequest,
 * wait out the backoff on a timer, and cut attempts that run too long.
 *
 * The main request owns one ctx.  Its single timer is the backoff wait in
 * BACKOFF, the attempt timeout or deadline in RUNNING and DISCARD, and the
 * idle timeout in FORWARD; the cleanup handler deletes it on every exit.
 */


#include "ngx_http_fireworks_module.h"


static void ngx_http_fireworks_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_pass_uri(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf);
static ngx_int_t ngx_http_fireworks_start(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static ngx_int_t ngx_http_fireworks_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_http_fireworks_merge_states(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_request_t *sr);
static void ngx_http_fireworks_wait(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_finish(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_timer_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_fireworks_cut(ngx_http_request_t *sr);
static void ngx_http_fireworks_cleanup(void *data);
static ngx_uint_t ngx_http_fireworks_retryable(
    ngx_http_fireworks_loc_conf_t *flcf, ngx_uint_t status);


ngx_int_t
ngx_http_fireworks_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_cleanup_t        *cln;
    ngx_http_fireworks_ctx_t  *ctx;

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "fireworks_pass is not supported in subrequests");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_fireworks_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_array_init(&ctx->statuses, r->pool, 4, sizeof(ngx_uint_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->ps.handler = ngx_http_fireworks_done;
    ctx->ps.data = ctx;

    ctx->timer.handler = ngx_http_fireworks_timer_handler;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    /*
     * the cleanup gets the ctx itself: an internal redirect of the main
     * request would zero r->ctx, and the timer must still be deleted
     */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_fireworks_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_fireworks_module);

    /* every attempt replays the body, so it is read whole before the first */

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_fireworks_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_fireworks_body_handler(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t       *ctx;
    ngx_http_fireworks_loc_conf_t  *flcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);
    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (ctx == NULL || flcf->pass == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* keep the body temp file open for the attempts after the first */
    r->preserve_body = 1;

    if (ngx_http_fireworks_pass_uri(r, ctx, flcf) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->args.len == 0) {
        ctx->args = r->args;
    }

    if (flcf->deadline) {
        ctx->deadline = ngx_current_msec + flcf->deadline;
    }

    if (ngx_http_fireworks_start(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/*
 * The attempts' uri and arguments: the arguments are those written after
 * a "?" in fireworks_pass, else the client's.  The uri is kept as
 * evaluated, already decoded ($uri); the check for ".." segments and
 * the like decodes what it checks into a new buffer, never into the uri,
 * and sees any "?" made harmless in a copy.
 */

static ngx_int_t
ngx_http_fireworks_pass_uri(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf)
{
    u_char      *p, *last;
    ngx_str_t    check, args;
    ngx_uint_t   flags;

    if (ngx_http_complex_value(r, flcf->pass, &ctx->uri) != NGX_OK) {
        return NGX_ERROR;
    }

    if (flcf->pass_args
        && ngx_http_complex_value(r, flcf->pass_args, &ctx->args) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the check leaves the bytes it reads alone: copy only to hide a "?" */

    check = ctx->uri;
    last = check.data + check.len;

    if (ngx_strlchr(check.data, last, '?') != NULL) {
        check.data = ngx_pnalloc(r->pool, check.len);
        if (check.data == NULL) {
            return NGX_ERROR;
        }

        last = ngx_cpymem(check.data, ctx->uri.data, check.len);

        for (p = check.data; p < last; p++) {
            if (*p == '?') {
                *p = '_';
            }
        }
    }

    ngx_str_null(&args);
    flags = NGX_HTTP_LOG_UNSAFE;

    if (ngx_http_parse_unsafe_uri(r, &check, &args, &flags) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "fireworks: unsafe uri \"%V\" in fireworks_pass",
                      &ctx->uri);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_start(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_t                      t, left;
    ngx_http_request_t             *sr;
    ngx_http_fireworks_loc_conf_t  *flcf;

    if (ngx_http_subrequest(r, &ctx->uri, ctx->args.len ? &ctx->args : NULL,
                            &sr, &ctx->ps, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a subrequest is a GET by default: it must be the client's request */

    sr->method = r->method;
    sr->method_name = r->method_name;
    sr->header_in = r->header_in;

    /* headers_in is a struct copy: keep list pushes off the parent's part */

    if (r->headers_in.headers.last == &r->headers_in.headers.part) {
        sr->headers_in.headers.last = &sr->headers_in.headers.part;
    }

    ctx->sr = sr;
    ctx->attempt++;
    ctx->state = NGX_HTTP_FIREWORKS_RUNNING;
    ctx->cut = NGX_HTTP_FIREWORKS_CUT_NONE;
    ctx->status_seen = 0;
    ctx->states_merged = 0;
    ctx->complete = 0;

    r->write_event_handler = ngx_http_fireworks_wake;
    r->read_event_handler = ngx_http_block_reading;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    t = flcf->attempt_timeout;

    if (ctx->deadline) {
        left = (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) > 0
               ? ctx->deadline - ngx_current_msec : 1;

        if (t == 0 || left < t) {
            t = left;
        }
    }

    ngx_http_fireworks_arm(ctx, t);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks attempt %ui: \"%V?%V\"",
                   ctx->attempt, &ctx->uri, &ctx->args);

    return NGX_OK;
}


/* sets the ctx timer to t from now, 0 deletes it */

void
ngx_http_fireworks_arm(ngx_http_fireworks_ctx_t *ctx, ngx_msec_t t)
{
    if (t) {
        /* re-adding within NGX_TIMER_LAZY_DELAY keeps the tree untouched */
        ngx_add_timer(&ctx->timer, t);
        return;
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/*
 * Decides what to do with an attempt's status: NGX_OK to retry after
 * ctx->delay, NGX_DECLINED to give the answer to the client, with
 * ctx->outcome saying why.
 */

ngx_int_t
ngx_http_fireworks_decide(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_request_t *sr, ngx_uint_t status)
{
    ngx_int_t                       rc;
    ngx_msec_t                      delay, ra;
    ngx_http_request_t             *r;
    ngx_http_fireworks_loc_conf_t  *flcf;

    r = ctx->request;
    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (!ngx_http_fireworks_retryable(flcf, status)) {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_DONE;
        return NGX_DECLINED;
    }

    if (r->connection->error) {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED;
        return NGX_DECLINED;
    }

    if (ctx->cut == NGX_HTTP_FIREWORKS_CUT_DEADLINE) {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
        return NGX_DECLINED;
    }

    if (ctx->attempt >= flcf->tries) {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_TRIES;
        return NGX_DECLINED;
    }

    /* an exiting worker starts no new wait: the client gets this answer */

    if (ngx_exiting || ngx_terminate) {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN;
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    if (flcf->retry_after) {
        rc = ngx_http_fireworks_retry_after(sr, &ra);
    }

    if (rc == NGX_OK) {

        if (ra > flcf->retry_after_max) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "fireworks: attempt %ui got %ui, retry after "
                          "%Mms exceeds fireworks_retry_after_max",
                          ctx->attempt, status, ra);
            ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_RETRY_AFTER;
            return NGX_DECLINED;
        }

        delay = ra + ngx_http_fireworks_jitter(flcf);

    } else {
        delay = ngx_http_fireworks_backoff(flcf, ctx->attempt);
    }

    if (ctx->deadline
        && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec)
           <= (ngx_msec_int_t) delay)
    {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
        return NGX_DECLINED;
    }

    ctx->delay = delay;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fireworks: attempt %ui got %ui, retrying in %Mms",
                  ctx->attempt, status, delay);

    return NGX_OK;
}


static ngx_uint_t
ngx_http_fireworks_retryable(ngx_http_fireworks_loc_conf_t *flcf,
    ngx_uint_t status)
{
    ngx_uint_t  i, *s;

    s = flcf->retry_on->elts;

    for (i = 0; i < flcf->retry_on->nelts; i++) {
        if (s[i] == status) {
            return 1;
        }
    }

    return 0;
}


void
ngx_http_fireworks_record_status(ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t status)
{
    ngx_uint_t  *s;

    if (ctx->status_seen) {
        return;
    }

    ctx->status_seen = 1;

    s = ngx_array_push(&ctx->statuses);
    if (s != NULL) {
        *s = status;
    }
}


/*
 * The post_subrequest handler: it only records and decides, it never
 * resumes the main request, which ngx_http_fireworks_wake() does once the
 * attempt is done.  It runs twice when nginx sends its own error page.
 */

static ngx_int_t
ngx_http_fireworks_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_fireworks_ctx_t  *ctx = data;

    if (sr != ctx->sr) {
        return rc;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "fireworks attempt %ui done: %i, state %d",
                   ctx->attempt, rc, ctx->state);

    ngx_http_fireworks_merge_states(ctx, sr);

    if (ctx->state != NGX_HTTP_FIREWORKS_RUNNING
        || rc < NGX_HTTP_SPECIAL_RESPONSE)
    {
        return rc;
    }

    /* no header came: nginx itself failed the attempt (502, 504, ...) */

    ngx_http_fireworks_record_status(ctx, rc);

    if (rc != NGX_HTTP_CLIENT_CLOSED_REQUEST
        && rc != NGX_HTTP_REQUEST_TIME_OUT
        && ngx_http_fireworks_decide(ctx, sr, rc) == NGX_OK)
    {
        /* NGX_OK suppresses the error page; the status stays for the log */
        ctx->state = NGX_HTTP_FIREWORKS_DISCARD;
        sr->headers_out.status = rc;
        return NGX_OK;
    }

    if (ctx->outcome == NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED;
    }

    /* nginx's error page comes through the header filter and goes out */
    ctx->state = NGX_HTTP_FIREWORKS_GIVEUP;

    return rc;
}


/* $upstream_status and friends of the main request list every attempt */

static void
ngx_http_fireworks_merge_states(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    void                *p;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->states_merged
        || sr->upstream_states == NULL
        || sr->upstream_states->nelts == 0)
    {
        return;
    }

    ctx->states_merged = 1;

    /*
     * The first attempt's array becomes the main request's: it lives in
     * the same pool, and the attempt, done, no longer touches it.  Later
     * attempts append to it, so one try costs no copy.
     */

    if (r->upstream_states == NULL) {
        r->upstream_states = sr->upstream_states;
        return;
    }

    p = ngx_array_push_n(r->upstream_states, sr->upstream_states->nelts);
    if (p == NULL) {
        return;
    }

    ngx_memcpy(p, sr->upstream_states->elts,
               sr->upstream_states->nelts * sizeof(ngx_http_upstream_state_t));
}


/*
 * The main request's write handler: nginx posts the main request when an
 * attempt is done, and spurious write events land here too.
 */

void
ngx_http_fireworks_wake(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);

    if (ctx == NULL || ctx->sr == NULL || !ctx->sr->done) {
        return;
    }

    ctx->sr = NULL;

    if (ctx->state == NGX_HTTP_FIREWORKS_DISCARD) {
        ngx_http_fireworks_wait(r, ctx);
        return;
    }

    ngx_http_fireworks_finish(r, ctx);
}


static void
ngx_http_fireworks_wait(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    /* the error body took so long that no wait fits any more */

    if (ctx->deadline
        && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec)
           <= (ngx_msec_int_t) ctx->delay)
    {
        ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
        ngx_http_fireworks_arm(ctx, 0);
        ngx_http_finalize_request(r, NGX_HTTP_GATEWAY_TIME_OUT);
        return;
    }

    ctx->state = NGX_HTTP_FIREWORKS_BACKOFF;
    ctx->wait_start = ngx_current_msec;

    /* watch the client while waiting, as limit_req does */

    r->read_event_handler = ngx_http_test_reading;

    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* exact, not lazy: the attempt's timer may be close to the wait */

    ngx_http_fireworks_arm(ctx, 0);
    ngx_http_fireworks_arm(ctx, ctx->delay ? ctx->delay : 1);
}


static void
ngx_http_fireworks_finish(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_http_fireworks_arm(ctx, 0);

    if (!r->header_sent) {
        /* the attempt ended without any header: nothing to forward */
        ngx_http_finalize_request(r, NGX_HTTP_BAD_GATEWAY);
        return;
    }

    if (r->header_only) {
        ngx_http_finalize_request(r, NGX_OK);
        return;
    }

    if (ctx->complete) {
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /*
     * the upstream broke off or was cut: no last buffer, so the client
     * sees a truncated response, as with a plain proxy
     */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks response truncated");

    r->keepalive = 0;
    ngx_http_finalize_request(r, NGX_OK);
}


static void
ngx_http_fireworks_timer_handler(ngx_event_t *ev)
{
    ngx_msec_t                      idle;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_fireworks_ctx_t       *ctx;
    ngx_http_fireworks_loc_conf_t  *flcf;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    switch (ctx->state) {

    case NGX_HTTP_FIREWORKS_BACKOFF:

        ctx->waited += ngx_current_msec - ctx->wait_start;

        if (c->error) {
            ctx->outcome = NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED;
            ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);

        } else if (ngx_http_fireworks_start(r, ctx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        ngx_http_run_posted_requests(c);
        return;

    case NGX_HTTP_FIREWORKS_RUNNING:
    case NGX_HTTP_FIREWORKS_DISCARD:

        if (ctx->deadline
            && (ngx_msec_int_t) (ngx_current_msec - ctx->deadline) >= 0)
        {
            ctx->cut = NGX_HTTP_FIREWORKS_CUT_DEADLINE;
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fireworks: deadline of %Mms reached in attempt %ui",
                          flcf->deadline, ctx->attempt);

        } else {
            ctx->cut = NGX_HTTP_FIREWORKS_CUT_ATTEMPT;
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fireworks: attempt %ui timed out after %Mms",
                          ctx->attempt, flcf->attempt_timeout);
        }

        break;

    case NGX_HTTP_FIREWORKS_FORWARD:

        /* an attempt's timer that outlived the header: no idle limit */

        if (flcf->idle_timeout == 0) {
            return;
        }

        idle = ngx_current_msec - ctx->last_data;

        if (idle < flcf->idle_timeout) {
            ngx_add_timer(&ctx->timer, flcf->idle_timeout - idle);
            return;
        }

        ctx->cut = NGX_HTTP_FIREWORKS_CUT_IDLE;
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "fireworks: no data for %Mms, response cut",
                      flcf->idle_timeout);
        break;

    default:
        return;
    }

    /*
     * The upstream's own handler runs posted requests after the faked
     * timeout, and may have freed the request: touch nothing after it.
     */

    if (ngx_http_fireworks_cut(ctx->sr) != NGX_OK
        && ctx->state != NGX_HTTP_FIREWORKS_FORWARD)
    {
        /* no upstream connection yet (the resolver runs): look again soon */

        ngx_add_timer(&ctx->timer, 50);
    }
}


/*
 * Ends an attempt the way nginx ends one whose upstream timed out: the
 * upstream module's static functions cannot be called, its event handler
 * can.  With tries at zero no other peer is tried within the attempt.
 */

static ngx_int_t
ngx_http_fireworks_cut(ngx_http_request_t *sr)
{
    ngx_event_t          *ev;
    ngx_connection_t     *pc;
    ngx_http_upstream_t  *u;

    if (sr == NULL) {
        return NGX_OK;
    }

    u = sr->upstream;

    if (u == NULL || u->peer.connection == NULL) {
        return NGX_DECLINED;
    }

    u->peer.tries = 0;

    pc = u->peer.connection;
    ev = pc->write->timer_set ? pc->write : pc->read;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ev->delayed = 0;
    ev->timedout = 1;
    ev->handler(ev);

    return NGX_OK;
}


static void
ngx_http_fireworks_cleanup(void *data)
{
    ngx_http_fireworks_ctx_t  *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->timer.posted) {
        ngx_delete_posted_event(&ctx->timer);
    }

    if (ctx->state == NGX_HTTP_FIREWORKS_BACKOFF) {
        ctx->waited += ngx_current_msec - ctx->wait_start;
        ctx->state = NGX_HTTP_FIREWORKS_INIT;
    }

    if (ctx->outcome == NGX_HTTP_FIREWORKS_OUTCOME_NONE
        && ctx->attempt > 0)
    {
        ctx->outcome = (ngx_exiting || ngx_terminate)
                       ? NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN
                       : NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED;
    }
}
