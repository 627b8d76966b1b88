
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The request flow, in the order a request meets it: read the body once,
 * run each attempt as a subrequest in a pool of its own, look at its
 * header in the filters, decide, wait out the backoff on a timer, and
 * hand the final answer to the client location's filters.
 *
 * Who does what:
 *
 *   - the header filter decides about an attempt that got a header: it
 *     must, since the body follows at once; a retryable answer is then
 *     swallowed (DISCARD), any other goes to the client (FORWARD);
 *   - the post_subrequest handler only records how the attempt ended;
 *   - the main request, woken when the attempt is done, decides about an
 *     attempt that ended without a header, and starts the wait or ends;
 *   - each timer meaning has its own handler: the attempt's limit, the
 *     backoff wait, the idle timeout;
 *   - every state change goes through ngx_http_fireworks_set_state().
 */


#include "ngx_http_fireworks_module.h"


static ngx_http_fireworks_ctx_t *ngx_http_fireworks_pass_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_pass_states(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_pass_uri(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf);
static ngx_int_t ngx_http_fireworks_start(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static ngx_int_t ngx_http_fireworks_subrequest(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);

static ngx_int_t ngx_http_fireworks_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_main_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_forward(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_outcome_e outcome);
static void ngx_http_fireworks_location(ngx_http_request_t *r,
    ngx_http_request_t *sr);
static ngx_uint_t ngx_http_fireworks_is_sse(ngx_http_request_t *sr);
static ngx_uint_t ngx_http_fireworks_coding(ngx_http_request_t *sr,
    ngx_str_t *value);
static ngx_uint_t ngx_http_fireworks_holds(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_outcome_e outcome);
static ngx_int_t ngx_http_fireworks_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_fireworks_hold_body(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_fireworks_hold_done(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *rest);
static ngx_int_t ngx_http_fireworks_release(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *rest,
    ngx_http_fireworks_outcome_e outcome);
static void ngx_http_fireworks_tail(ngx_http_fireworks_ctx_t *ctx,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_fireworks_open_ended(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_stream_error(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static ngx_http_fireworks_ctx_t *ngx_http_fireworks_attempt_ctx(
    ngx_http_request_t *r);

static ngx_int_t ngx_http_fireworks_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_http_fireworks_wake(ngx_http_request_t *r);
static void ngx_http_fireworks_read(ngx_http_request_t *r);
static void ngx_http_fireworks_next(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static ngx_http_fireworks_outcome_e ngx_http_fireworks_decide_attempt(
    ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status);
static ngx_http_fireworks_outcome_e ngx_http_fireworks_decide(
    ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status);
static ngx_uint_t ngx_http_fireworks_retryable(
    ngx_http_fireworks_loc_conf_t *flcf, ngx_uint_t status);
static ngx_http_fireworks_outcome_e ngx_http_fireworks_fits(
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t delay);
static ngx_http_fireworks_result_t *ngx_http_fireworks_result(
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status, ngx_uint_t kind);
static ngx_uint_t ngx_http_fireworks_kind(ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_give_up(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status,
    ngx_http_fireworks_outcome_e outcome);
static void ngx_http_fireworks_wait(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_finish(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);

static void ngx_http_fireworks_attempt_handler(ngx_event_t *ev);
static void ngx_http_fireworks_backoff_handler(ngx_event_t *ev);
static void ngx_http_fireworks_idle_handler(ngx_event_t *ev);
static void ngx_http_fireworks_arm(ngx_http_fireworks_ctx_t *ctx,
    ngx_event_handler_pt handler, ngx_msec_t t);
static ngx_int_t ngx_http_fireworks_cut(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_cut_e cut);

static void ngx_http_fireworks_end_attempt(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_merge_states(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t copy);
static void ngx_http_fireworks_keep_variables(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t copy);
static void ngx_http_fireworks_set_state(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_state_e state,
    ngx_http_fireworks_outcome_e outcome);
static void ngx_http_fireworks_gauges(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_state_e state);
static void ngx_http_fireworks_left(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_cleanup(void *data);
static void ngx_http_fireworks_pool_cleanup(void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


#if (NGX_DEBUG)

static char  *ngx_http_fireworks_states[] = {
    "body", "attempt", "discard", "hold", "backoff", "forward", "done"
};

#endif


/* the first moment this worker was seen exiting, for worker_shutdown_timeout */
static ngx_msec_t  ngx_http_fireworks_exiting;


ngx_int_t
ngx_http_fireworks_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_cleanup_t        *cln;
    ngx_pool_cleanup_t        *pcln;
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

    if (ngx_array_init(&ctx->results, r->pool, 4,
                       sizeof(ngx_http_fireworks_result_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->prev = ngx_http_fireworks_pass_ctx(r);

    if (ngx_http_fireworks_pass_states(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->ps.handler = ngx_http_fireworks_done;
    ctx->ps.data = ctx;

    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    /*
     * Two cleanups: the request's runs before the access log is written
     * and deletes the timer on every exit, the pool's runs after it and
     * frees the last attempt's pool, which the final response's headers
     * and $upstream_* states may point into.  Both get the ctx itself: an
     * internal redirect of the main request would zero r->ctx.
     */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_fireworks_cleanup;
    cln->data = ctx;

    pcln = ngx_pool_cleanup_add(r->pool, 0);
    if (pcln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pcln->handler = ngx_http_fireworks_pool_cleanup;
    pcln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_fireworks_module);

    if (ngx_http_fireworks_inspect_start(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every attempt replays the body, so it is read whole before the first */

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_fireworks_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The ctx of an earlier fireworks_pass of this request: an error_page
 * that sends a request to another fireworks_pass location zeroes r->ctx,
 * but the first pass's cleanup is still there.  The passes are chained,
 * so that each is counted and releases what it holds
 * (ngx_http_fireworks_log_handler()).
 */

static ngx_http_fireworks_ctx_t *
ngx_http_fireworks_pass_ctx(ngx_http_request_t *r)
{
    ngx_http_cleanup_t  *cln;

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_fireworks_cleanup) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "fireworks pass after an earlier one");
            return cln->data;
        }
    }

    return NULL;
}


/*
 * The states an earlier pass left in $upstream_* are kept; a state with
 * no peer ends them, which nginx shows as " : ", as between the upstreams
 * of an internal redirect.
 */

static ngx_int_t
ngx_http_fireworks_pass_states(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_http_upstream_state_t  *st;

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return NGX_OK;
    }

    st = ngx_array_push(r->upstream_states);
    if (st == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(st, sizeof(ngx_http_upstream_state_t));

    ctx->states = r->upstream_states->nelts;

    return NGX_OK;
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
    ctx->body_read = 1;

    if (ngx_http_fireworks_pass_uri(r, ctx, flcf) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->args.len == 0) {
        ctx->args = r->args;
    }

    ngx_http_fireworks_request_workload(r, ctx, flcf);

    if (ctx->limits.deadline) {
        ctx->deadline = ngx_current_msec + ctx->limits.deadline;
    }

    if (flcf->route != NULL && flcf->route->block != NULL) {
        ctx->route = flcf->route->block;
        ctx->shpool = flcf->route->shpool;
    }

    ngx_http_fireworks_count_start(ctx, flcf);

    /*
     * fireworks_gate all: a first attempt, too, waits for a closed gate
     * or a paced start, counted waiting by the guard
     */

    if (ngx_http_fireworks_guard_hold(r, ctx, &ctx->delay) == NGX_AGAIN) {
        ngx_http_fireworks_wait(r, ctx);
        return;
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

    /* no NGX_HTTP_LOG_UNSAFE: the line below says it once, with context */

    ngx_str_null(&args);
    flags = 0;

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
    ngx_msec_t  t, left;

    /* nothing of the attempt before: no result, no cut, no kind */

    ngx_memzero(&ctx->attempt, sizeof(ngx_http_fireworks_attempt_t));

    if (ngx_http_fireworks_fallback_start(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_fireworks_subrequest(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->attempts++;
    ctx->attempt.start = ngx_current_msec;

    ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_ATTEMPT,
                                 NGX_HTTP_FIREWORKS_OUTCOME_NONE);

    r->write_event_handler = ngx_http_fireworks_wake;
    r->read_event_handler = ngx_http_block_reading;

    t = ctx->limits.attempt_timeout;

    if (ctx->deadline) {
        left = (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) > 0
               ? ctx->deadline - ngx_current_msec : 1;

        if (t == 0 || left < t) {
            t = left;
        }
    }

    ngx_http_fireworks_arm(ctx, ngx_http_fireworks_attempt_handler, t);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks attempt %ui: \"%V?%V\", limit %Mms",
                   ctx->attempts, &ctx->uri, &ctx->args, t);

    return NGX_OK;
}


/*
 * The attempt's subrequest, with everything it allocates in a pool of its
 * own: ngx_http_subrequest() takes the request struct, the module ctx
 * array and the header lists from the parent's pool, and the subrequest
 * then allocates from its parent's pool, so the main request's pool is
 * swapped for the attempt's during the call.  The pool is given back when
 * the attempt is discarded (ngx_http_fireworks_end_attempt()): a request
 * that waits holds no memory of the attempts it made.
 */

static ngx_int_t
ngx_http_fireworks_subrequest(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_pool_t                 *pool, *saved;
    ngx_http_request_t         *sr;
    ngx_http_core_main_conf_t  *cmcf;

    pool = ngx_http_fireworks_pool_get(r->connection->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ctx->attempt.pool = pool;
    ctx->attempt.cleanup = r->cleanup;

    saved = r->pool;
    r->pool = pool;

    rc = ngx_http_subrequest(r, &ctx->uri, ctx->args.len ? &ctx->args : NULL,
                             &sr, &ctx->ps, 0);

    r->pool = saved;

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->attempt.sr = sr;

    if (ngx_http_fireworks_fallback_body(r, ctx, sr) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a subrequest is a GET by default: it must be the client's request */

    sr->method = r->method;
    sr->method_name = r->method_name;
    sr->header_in = r->header_in;

    /*
     * The client location accepted the body: the internal location's
     * client_max_body_size (1m by default) does not judge it again for
     * each attempt.  The flag that makes nginx skip the check is taken
     * back in the attempt's first phase after it
     * (ngx_http_fireworks_rewrite_handler()).
     */

    sr->discard_body = 1;

    /* headers_in is a struct copy: keep list pushes off the parent's part */

    if (r->headers_in.headers.last == &r->headers_in.headers.part) {
        sr->headers_in.headers.last = &sr->headers_in.headers.part;
    }

    /*
     * The variables' values the attempt caches may be allocated in its
     * pool: it caches them in a copy of the main request's, so that no
     * cached value outlives the pool.
     */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    if (cmcf->variables.nelts) {
        sr->variables = ngx_pnalloc(pool, cmcf->variables.nelts
                                          * sizeof(ngx_http_variable_value_t));
        if (sr->variables == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(sr->variables, r->variables,
                   cmcf->variables.nelts * sizeof(ngx_http_variable_value_t));
    }

    return NGX_OK;
}


/*
 * The rewrite phase, the first after a request's location is found: an
 * attempt's discard_body, set so that its location did not judge the
 * body's size again, is taken back before anything reads it (it would
 * make nginx read the client's connection as a discarded body).  A
 * "rewrite ... last" in the internal location then finds a location
 * whose client_max_body_size applies.
 */

ngx_int_t
ngx_http_fireworks_rewrite_handler(ngx_http_request_t *r)
{
    if (r != r->main && r->discard_body
        && ngx_http_fireworks_attempt_ctx(r) != NULL)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks attempt: location found");

        r->discard_body = 0;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_fireworks_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_fireworks_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_fireworks_body_filter;

    return NGX_OK;
}


/* the ctx when r is the attempt in progress, NULL for anything else */

static ngx_http_fireworks_ctx_t *
ngx_http_fireworks_attempt_ctx(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t  *ctx;

    if (r == r->main) {
        return NULL;
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL || ctx->attempt.sr != r) {
        return NULL;
    }

    return ctx;
}


/*
 * The filters sit at the top of both chains ("config" orders the module
 * last).  An attempt's header and body never go down the chains as the
 * attempt's: a retryable answer stops here, the final one continues as
 * the main request's, so that every filter of the client location sees
 * the response as it would behind plain proxy_pass there.
 */

static ngx_int_t
ngx_http_fireworks_header_filter(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t      *ctx;
    ngx_http_fireworks_result_t   *res;
    ngx_http_fireworks_outcome_e   outcome;

    if (r == r->main) {
        return ngx_http_fireworks_main_header_filter(r);
    }

    ctx = ngx_http_fireworks_attempt_ctx(r);

    if (ctx == NULL || ctx->state != NGX_HTTP_FIREWORKS_ATTEMPT) {
        return ngx_http_next_header_filter(r);
    }

    ctx->attempt.status = r->headers_out.status;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks attempt %ui: header, status %ui",
                   ctx->attempts, ctx->attempt.status);

    if (ctx->attempt.status < 100 || r->http_version == NGX_HTTP_VERSION_9) {

        /*
         * The proxy takes an answer without a status line for HTTP/0.9:
         * no API speaks it, it is a broken answer.  Its body is
         * swallowed and the attempt fails as an invalid header would.
         */

        ctx->attempt.status = 0;
        ctx->attempt.kind = NGX_HTTP_FIREWORKS_KIND_INVALID_HEADER;
        ctx->attempt.broken = 1;

        ngx_http_fireworks_set_state(r->main, ctx, NGX_HTTP_FIREWORKS_DISCARD,
                                     NGX_HTTP_FIREWORKS_OUTCOME_NONE);
        r->header_sent = 1;

        return NGX_OK;
    }

    ngx_http_fireworks_count_header(ctx);

    /* the route's gate watches the primary: the fallback's answers not */

    if (!ctx->fallback) {
        ngx_http_fireworks_guard_answer(r->main, ctx, ctx->attempt.status);
    }

    outcome = ngx_http_fireworks_decide(r->main, ctx, ctx->attempt.status);

    if (ngx_http_fireworks_holds(r, ctx, outcome)) {

        /* the client's header waits for the first event: the result too */

        ngx_http_fireworks_set_state(r->main, ctx, NGX_HTTP_FIREWORKS_HOLD,
                                     NGX_HTTP_FIREWORKS_OUTCOME_NONE);
        r->header_sent = 1;

        return NGX_OK;
    }

    res = ngx_http_fireworks_result(ctx, ctx->attempt.status, 0);
    ngx_http_fireworks_count_attempt(ctx, res, 0);

    if (outcome != NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        return ngx_http_fireworks_forward(r, ctx, outcome);
    }

    /* the body filter swallows the body: the upstream keeps its connection */

    ngx_http_fireworks_set_state(r->main, ctx, NGX_HTTP_FIREWORKS_DISCARD,
                                 NGX_HTTP_FIREWORKS_OUTCOME_NONE);
    r->header_sent = 1;

    return NGX_OK;
}


/*
 * The main request's own answer after a give-up: it tells the client's
 * SDK not to retry what the gateway retried already.  An error_page that
 * sends the request elsewhere zeroes r->ctx, and the answer made there
 * gets nothing of this pass.
 */

static ngx_int_t
ngx_http_fireworks_main_header_filter(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);

    if (ctx != NULL && ctx->gave_up
        && r->headers_out.status == ctx->answer)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks give-up answer %ui", ctx->answer);

        ctx->gave_up = 0;

        if (ngx_http_fireworks_client_retry(r, ctx, ctx->answer) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


/*
 * fireworks_hold_header: a successful answer's header waits for its first
 * body bytes (for SSE, its first event), so that a stream that breaks
 * before them is retried like any failure.  Only where a retry could
 * follow, and only for an answer with a body.  An encoded stream has no
 * readable events: it is held to its first bytes, as any other answer.
 */

static ngx_uint_t
ngx_http_fireworks_holds(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_outcome_e outcome)
{
    ngx_http_fireworks_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r->main, ngx_http_fireworks_module);

    if (!flcf->hold_header
        || outcome != NGX_HTTP_FIREWORKS_OUTCOME_DONE
        || ctx->attempt.status != NGX_HTTP_OK
        || r->main->header_only
        || r->headers_out.content_length_n == 0
        || (ctx->fallback
            ? ctx->attempts - ctx->fallback_from
              >= (ngx_uint_t) flcf->fallback_tries
            : (ctx->attempts >= (ngx_uint_t) flcf->tries
               && flcf->fallback == NULL)))
    {
        /* no retry, and no fallback, could follow a broken stream */
        return 0;
    }

    ctx->attempt.sse = ngx_http_fireworks_is_sse(r);

    ctx->attempt.hold = ngx_create_temp_buf(r->pool, flcf->hold_size);

    return (ctx->attempt.hold != NULL);
}


/*
 * An attempt's answer is an event stream the module may read and end:
 * text/event-stream with no Content-Encoding but identity.  An encoded
 * one (gzip, br) goes through untouched, as behind proxy_pass.
 */

static ngx_uint_t
ngx_http_fireworks_is_sse(ngx_http_request_t *sr)
{
    if (sr->headers_out.content_type.len < 17
        || ngx_strncasecmp(sr->headers_out.content_type.data,
                           (u_char *) "text/event-stream", 17)
           != 0)
    {
        return 0;
    }

    return !ngx_http_fireworks_encoded(sr);
}


/*
 * Whether the API's answer is encoded: the upstream's own header list
 * (what the API sent, even if proxy_hide_header hides it; newer nginx,
 * 1.26 for one, keeps no Content-Encoding field there), else the header.
 */

ngx_uint_t
ngx_http_fireworks_encoded(ngx_http_request_t *sr)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (sr->upstream == NULL) {
        h = sr->headers_out.content_encoding;
        return (h != NULL && ngx_http_fireworks_coding(sr, &h->value));
    }

    part = &sr->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == sizeof("Content-Encoding") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Encoding",
                               h[i].key.len)
               == 0
            && ngx_http_fireworks_coding(sr, &h[i].value))
        {
            return 1;
        }
    }

    return 0;
}


/* a coding that changes the bytes: anything but "identity" or nothing */

static ngx_uint_t
ngx_http_fireworks_coding(ngx_http_request_t *sr, ngx_str_t *value)
{
    if (value->len == 0
        || (value->len == sizeof("identity") - 1
            && ngx_strncasecmp(value->data, (u_char *) "identity",
                               value->len)
               == 0))
    {
        return 0;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "fireworks answer encoded \"%V\": not read", value);

    return 1;
}


static ngx_int_t
ngx_http_fireworks_forward(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_outcome_e outcome)
{
    ngx_int_t                       rc;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;

    r = sr->main;
    c = r->connection;

    ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_FORWARD, outcome);

    /*
     * The idle timeout starts now.  A timer already due no later than it
     * is kept, with the idle handler: it then measures the idle time from
     * last_data and waits on, so that a short answer that ends at once
     * costs no timer tree update.
     */

    ctx->attempt.last_data = ngx_current_msec;

    if (ctx->limits.idle_timeout == 0
        || !ctx->timer.timer_set
        || (ngx_msec_int_t) (ctx->timer.timer.key - ngx_current_msec)
           > (ngx_msec_int_t) ctx->limits.idle_timeout)
    {
        ngx_http_fireworks_arm(ctx, NULL, 0);
        ngx_http_fireworks_arm(ctx, ngx_http_fireworks_idle_handler,
                               ctx->limits.idle_timeout);

    } else {
        ctx->timer.handler = ngx_http_fireworks_idle_handler;
    }

    /*
     * The attempt's header becomes the main request's.  The lists are
     * struct copies: their tails must point into the main request's own
     * first part, or what later filters push would be lost.
     */

    r->headers_out = sr->headers_out;

    if (sr->headers_out.headers.last == &sr->headers_out.headers.part) {
        r->headers_out.headers.last = &r->headers_out.headers.part;
    }

    if (sr->headers_out.trailers.last == &sr->headers_out.trailers.part) {
        r->headers_out.trailers.last = &r->headers_out.trailers.part;
    }

    ngx_http_fireworks_location(r, sr);

    /*
     * The client location's filters and the access log see $upstream_*
     * as behind proxy_pass: every attempt's states, this attempt's
     * header ($upstream_http_*, $upstream_cache_status), and the
     * variables the attempts cached.  The attempt's pool, where its
     * upstream lives, goes only with the request's.
     */

    ngx_http_fireworks_merge_states(r, ctx, 0);
    ngx_http_fireworks_keep_variables(r, ctx, 0);
    r->upstream = sr->upstream;

    ctx->attempt.sse = ngx_http_fireworks_is_sse(sr);

    if (ngx_http_fireworks_client_retry(r, ctx, r->headers_out.status)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the answer is the API's: no 304 or 206 made from it here */

    r->disable_not_modified = 1;
    r->allow_ranges = 0;

    /*
     * The main request answers from now on, as if the proxy ran in its
     * own location: it becomes the connection's active request, and the
     * attempt a background subrequest that only feeds it, so that its
     * end releases it without touching the postponed list.  The client
     * location's filters then may make subrequests of their own
     * (add_before_body) and the postpone filter orders them rightly.
     */

    sr->background = 1;
    sr->header_sent = 1;

    if (r->postponed && r->postponed->request == sr) {
        r->postponed = r->postponed->next;
    }

    if (c->data == sr) {
        c->data = r;
    }

    r->read_event_handler = ngx_http_fireworks_read;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    if (r->header_only) {
        /* HEAD, 204: stop reading the upstream after its header */
        sr->header_only = 1;
    }

    return rc;
}


/*
 * The internal location's default proxy_redirect turns the API's
 * Location into a path of the internal location itself, which no client
 * can reach: the API's own value goes out instead.  A proxy_redirect that
 * maps it anywhere else is kept.
 */

static void
ngx_http_fireworks_location(ngx_http_request_t *r, ngx_http_request_t *sr)
{
    ngx_table_elt_t           *h;
    ngx_http_upstream_t       *u;
    ngx_http_core_loc_conf_t  *clcf;

    h = r->headers_out.location;
    u = sr->upstream;

    if (h == NULL || u == NULL || u->headers_in.location == NULL) {
        return;
    }

    clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);

    if (clcf->internal
        && h->value.len >= clcf->name.len
        && ngx_strncmp(h->value.data, clcf->name.data, clcf->name.len) == 0)
    {
        h->value = u->headers_in.location->value;
    }
}


static ngx_int_t
ngx_http_fireworks_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t               *cl;
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_fireworks_attempt_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    switch (ctx->state) {

    case NGX_HTTP_FIREWORKS_DISCARD:

        /*
         * consume, never just drop: the upstream frees its buffers only
         * once they are consumed, and would stall with them busy
         */

        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        return NGX_OK;

    case NGX_HTTP_FIREWORKS_HOLD:
        return ngx_http_fireworks_hold_body(r, ctx, in);

    case NGX_HTTP_FIREWORKS_FORWARD:

        /*
         * The attempt's last buffer ends a subrequest's part, not the
         * response: the main request sends its own last buffer once the
         * attempt is done (ngx_http_fireworks_finish()), through the
         * whole chain, so that filters that finish on it (gunzip,
         * sub_filter, add_after_body) finish there.
         */

        for (cl = in; cl; cl = cl->next) {
            if (cl->buf->last_in_chain) {
                cl->buf->last_in_chain = 0;
                ctx->attempt.complete = 1;
            }
        }

        /* the idle timer looks at this when it fires, it is not moved */

        if (in) {
            ctx->attempt.last_data = ngx_current_msec;

            ngx_http_fireworks_usage_feed(r, ctx, in);

            if (ctx->attempt.sse) {
                ngx_http_fireworks_tail(ctx, in);
            }
        }

        if (ctx->attempt.complete) {
            ngx_http_fireworks_arm(ctx, NULL, 0);
        }

        return ngx_http_next_body_filter(r->main, in);

    default:
        return ngx_http_next_body_filter(r, in);
    }
}


/*
 * A held answer's body: copied into the hold buffer and consumed, until
 * its first bytes are there (for SSE, its first event with data), the
 * buffer is full, or the answer ends; then the header and what was held
 * go on.  A first event that is an error object carrying a status makes
 * the attempt fail with that status, retried like any other.
 */

static ngx_int_t
ngx_http_fireworks_hold_body(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *in)
{
    size_t                          n;
    u_char                         *data, *data_end;
    ngx_buf_t                      *b, *hold;
    ngx_uint_t                      status;
    ngx_chain_t                    *cl;
    ngx_http_fireworks_result_t    *res;
    ngx_http_fireworks_outcome_e    outcome;
    ngx_http_fireworks_loc_conf_t  *flcf;

    hold = ctx->attempt.hold;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_in_chain) {
            return ngx_http_fireworks_hold_done(r, ctx, cl);
        }

        if (!ngx_buf_in_memory(b)) {

            /* held in a file already (proxy_buffering on): let it go */

            if (ngx_buf_size(b)) {
                return ngx_http_fireworks_hold_done(r, ctx, cl);
            }

            continue;
        }

        n = ngx_min((size_t) (b->last - b->pos),
                    (size_t) (hold->end - hold->last));

        hold->last = ngx_cpymem(hold->last, b->pos, n);
        b->pos += n;

        if (b->pos < b->last) {

            /* fireworks_hold_size is reached: no retry any more */

            return ngx_http_fireworks_hold_done(r, ctx, cl);
        }
    }

    if (hold->last == hold->pos) {
        return NGX_OK;
    }

    if (!ctx->attempt.sse) {
        return ngx_http_fireworks_hold_done(r, ctx, NULL);
    }

    if (ngx_http_fireworks_sse_event(hold->pos, hold->last, &data, &data_end)
        == NULL)
    {
        return NGX_OK;
    }

    status = ngx_http_fireworks_sse_error(data, data_end);

    if (status == 0) {
        return ngx_http_fireworks_hold_done(r, ctx, NULL);
    }

    /* an error event where the first token should be: that is the answer */

    flcf = ngx_http_get_module_loc_conf(r->main, ngx_http_fireworks_module);

    ngx_log_error(flcf->log_level, r->connection->log, 0,
                  "fireworks: attempt %ui: its stream's first event is "
                  "an error, %ui", ctx->attempts, status);

    ctx->attempt.status = status;
    res = ngx_http_fireworks_result(ctx, status, 0);

    outcome = ngx_http_fireworks_decide(r->main, ctx, status);

    ngx_http_fireworks_count_attempt(ctx, res, 0);

    if (outcome != NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        return ngx_http_fireworks_release(r, ctx, NULL, outcome);
    }

    ngx_http_fireworks_set_state(r->main, ctx, NGX_HTTP_FIREWORKS_DISCARD,
                                 NGX_HTTP_FIREWORKS_OUTCOME_NONE);

    return NGX_OK;
}


/* the held answer is good: its result is the header's status */

static ngx_int_t
ngx_http_fireworks_hold_done(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *rest)
{
    ngx_http_fireworks_result_t  *res;

    res = ngx_http_fireworks_result(ctx, ctx->attempt.status, 0);
    ngx_http_fireworks_count_attempt(ctx, res, 0);

    return ngx_http_fireworks_release(r, ctx, rest,
                                      NGX_HTTP_FIREWORKS_OUTCOME_DONE);
}


/*
 * The held header goes out, then the held bytes and the rest of the
 * chain, through the forwarding path.  The attempt's result is recorded
 * already.
 */

static ngx_int_t
ngx_http_fireworks_release(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *rest,
    ngx_http_fireworks_outcome_e outcome)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    rc = ngx_http_fireworks_forward(r, ctx, outcome);

    if (rc == NGX_ERROR) {
        return rc;
    }

    if (ctx->attempt.hold->last > ctx->attempt.hold->pos) {
        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        /*
         * the held bytes replace the buffers they came in, and with them
         * the upstream's flush: without it the first event would wait in
         * the write filter for postpone_output bytes, that is, for the
         * next event
         */

        ctx->attempt.hold->flush = 1;

        cl->buf = ctx->attempt.hold;
        cl->next = rest;
        rest = cl;
    }

    return ngx_http_fireworks_body_filter(r, rest);
}


/* the last bytes that went to the client: did an event end there? */

static void
ngx_http_fireworks_tail(ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *in)
{
    u_char      *p;
    ngx_buf_t   *b;
    ngx_uint_t   i;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        for (p = ngx_max(b->pos, b->last - 4); p < b->last; p++) {
            for (i = 0; i < 3; i++) {
                ctx->attempt.tail[i] = ctx->attempt.tail[i + 1];
            }

            ctx->attempt.tail[3] = *p;
        }
    }
}


/*
 * Whether bytes may follow the API's after the header went out: only if
 * the client was told no length (chunked, HTTP/2 DATA, or a close after
 * the body: the chunked filter saw to it).  The header filters have run,
 * and those that change the body's length removed it.  A declared length
 * ends the body where it says: past it a keep-alive client reads the
 * next response, an HTTP/2 client a protocol error.
 */

static ngx_uint_t
ngx_http_fireworks_open_ended(ngx_http_request_t *r)
{
    return (r->headers_out.content_length_n < 0
            && r->headers_out.content_length == NULL);
}


/*
 * fireworks_stream_error: a stream the client already has, cut by the
 * API or by the idle timeout, ends with one error event that says so and
 * a proper end, rather than a truncation clients may take for the end.
 * Only where the framing leaves room for it (ngx_http_fireworks_finish()).
 */

static ngx_int_t
ngx_http_fireworks_stream_error(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    static u_char  idle[] =
        "data: {\"error\":{\"object\":\"error\",\"type\":\"gateway_error\","
        "\"code\":\"stream_idle\",\"message\":\"The stream was cut: the "
        "API sent nothing for longer than the gateway's idle timeout.\"}}"
        "\n\n";

    static u_char  broken[] =
        "data: {\"error\":{\"object\":\"error\",\"type\":\"gateway_error\","
        "\"code\":\"stream_broken\",\"message\":\"The stream was cut: "
        "the API's connection broke off.\"}}\n\n";

    b = ngx_create_temp_buf(r->pool, sizeof(broken) + sizeof(idle) + 2);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    /* an event cut in the middle is ended first */

    if (!(ctx->attempt.tail[3] == '\n' && ctx->attempt.tail[2] == '\n')
        && !(ctx->attempt.tail[3] == '\r' && ctx->attempt.tail[2] == '\r')
        && !(ctx->attempt.tail[3] == '\n' && ctx->attempt.tail[1] == '\n'
             && ctx->attempt.tail[2] == '\r'))
    {
        *p++ = '\n';
        *p++ = '\n';
    }

    if (ctx->attempt.cut == NGX_HTTP_FIREWORKS_CUT_IDLE) {
        p = ngx_cpymem(p, idle, sizeof(idle) - 1);

    } else {
        p = ngx_cpymem(p, broken, sizeof(broken) - 1);
    }

    b->last = p;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The post_subrequest handler: it records how the attempt ended and
 * decides nothing.  A failure ends as NGX_OK here, so that nginx neither
 * makes an error page for the attempt nor terminates the main request
 * with it (a retryable answer whose body broke while it was discarded is
 * still retried); the main request, woken next, decides.  Only a client
 * that has gone ends the request at once.
 */

static ngx_int_t
ngx_http_fireworks_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_fireworks_ctx_t  *ctx = data;

    if (sr != ctx->attempt.sr || ctx->attempt.ended) {
        return rc;
    }

    ctx->attempt.ended = 1;
    ctx->attempt.rc = rc;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "fireworks attempt %ui done: %i, state %s",
                   ctx->attempts, rc, ngx_http_fireworks_states[ctx->state]);

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT
        || sr->connection->error)
    {
        return rc;
    }

    /* nginx wakes the parent of a background subrequest only when asked */

    if (sr->background && ngx_http_post_request(sr->main, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return NGX_OK;
    }

    return rc;
}


/*
 * The main request's write handler.  nginx posts the main request when an
 * attempt is done; while a forwarded attempt streams, the main request
 * is the connection's active request and gets its write events, which
 * belong to the attempt's upstream.
 */

static void
ngx_http_fireworks_wake(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);

    if (ctx == NULL || ctx->attempt.sr == NULL) {
        return;
    }

    if (!ctx->attempt.ended) {

        if (ctx->state == NGX_HTTP_FIREWORKS_FORWARD) {
            ctx->attempt.sr->write_event_handler(ctx->attempt.sr);
        }

        return;
    }

    if (ctx->state == NGX_HTTP_FIREWORKS_FORWARD) {
        ngx_http_fireworks_finish(r, ctx);
        return;
    }

    ngx_http_fireworks_next(r, ctx);
}


/* the read events of a forwarded attempt: the upstream watches the client */

static void
ngx_http_fireworks_read(ngx_http_request_t *r)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);

    if (ctx != NULL && ctx->attempt.sr != NULL && !ctx->attempt.ended) {
        ctx->attempt.sr->read_event_handler(ctx->attempt.sr);
        return;
    }

    ngx_http_block_reading(r);
}


/*
 * An attempt that was not forwarded has ended: decide about one that got
 * no header (nginx's own 502 or 504, or a cut), then free it and wait for
 * the next attempt or give up.
 */

static void
ngx_http_fireworks_next(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    ngx_uint_t                     status, kind;
    ngx_http_fireworks_result_t   *res;
    ngx_http_fireworks_outcome_e   outcome;

    if (ctx->state == NGX_HTTP_FIREWORKS_DISCARD && !ctx->attempt.broken) {

        /* decided at the header; the body may have taken the time left */

        status = NGX_HTTP_GATEWAY_TIME_OUT;
        outcome = ngx_http_fireworks_fits(ctx, ctx->delay);

    } else {

        if (ctx->attempt.cut != NGX_HTTP_FIREWORKS_CUT_NONE) {
            status = NGX_HTTP_GATEWAY_TIME_OUT;

        } else if (ctx->attempt.broken) {
            status = NGX_HTTP_BAD_GATEWAY;

        } else if (ctx->attempt.rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            status = ctx->attempt.rc;

        } else {
            status = NGX_HTTP_BAD_GATEWAY;
        }

        kind = ngx_http_fireworks_kind(ctx);

        if (ctx->state == NGX_HTTP_FIREWORKS_HOLD
            && ctx->attempt.cut == NGX_HTTP_FIREWORKS_CUT_NONE)
        {
            /* its header came, its stream broke before the first event */
            kind = (ctx->attempt.rc == NGX_HTTP_GATEWAY_TIME_OUT)
                   ? NGX_HTTP_FIREWORKS_KIND_TIMEOUT
                   : NGX_HTTP_FIREWORKS_KIND_RESET;
        }

        res = ngx_http_fireworks_result(ctx, status, kind);

        outcome = ngx_http_fireworks_decide(r, ctx, status);

        ngx_http_fireworks_count_attempt(ctx, res, 0);
    }

    ngx_http_fireworks_end_attempt(r, ctx);

    if (outcome == NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        ngx_http_fireworks_wait(r, ctx);
        return;
    }

    ngx_http_fireworks_give_up(r, ctx, status, outcome);
}


/* no answer to forward: nginx's own, with the client location's pages */

static void
ngx_http_fireworks_give_up(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status,
    ngx_http_fireworks_outcome_e outcome)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks give up: %ui, %V", status,
                   &ngx_http_fireworks_outcomes[outcome]);

    /* no timer may fire for this pass again, whatever error_page does */

    ngx_http_fireworks_arm(ctx, NULL, 0);
    ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_DONE, outcome);

    /*
     * x-should-retry or retry-after-ms goes out with this answer in the
     * header filter, not with what an error_page makes of it
     */

    ctx->gave_up = 1;
    ctx->answer = status;
    ctx->time = ngx_http_fireworks_request_time(r);

    ngx_http_finalize_request(r, status);
}


/*
 * Decides about an attempt's status: OUTCOME_NONE to retry after
 * ctx->delay (or to go on with the fallback at once), else why the client
 * gets this answer.
 */

static ngx_http_fireworks_outcome_e
ngx_http_fireworks_decide(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t status)
{
    ngx_http_fireworks_outcome_e  outcome;

    outcome = ngx_http_fireworks_decide_attempt(r, ctx, status);

    if (outcome == NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        return outcome;
    }

    return ngx_http_fireworks_fallback_switch(r, ctx, status, outcome);
}


static ngx_http_fireworks_outcome_e
ngx_http_fireworks_decide_attempt(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status)
{
    ngx_int_t                       rc;
    ngx_msec_t                      delay, ra;
    ngx_http_fireworks_outcome_e    outcome;
    ngx_http_fireworks_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks decide: attempt %ui of %i, status %ui",
                   ctx->attempts, flcf->tries, status);

    if (r->connection->error) {
        return NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED;
    }

    if (ctx->attempt.cut == NGX_HTTP_FIREWORKS_CUT_DEADLINE) {
        return NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
    }

    if (!ngx_http_fireworks_retryable(flcf, status)) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks decide: not retried");
        return NGX_HTTP_FIREWORKS_OUTCOME_DONE;
    }

    if (ctx->fallback
        ? ctx->attempts - ctx->fallback_from
          >= (ngx_uint_t) flcf->fallback_tries
        : ctx->attempts >= (ngx_uint_t) flcf->tries)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks decide: tries spent");
        return NGX_HTTP_FIREWORKS_OUTCOME_TRIES;
    }

    if (ngx_terminate) {
        return NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN;
    }

    rc = NGX_DECLINED;

    if (flcf->retry_after) {
        rc = ngx_http_fireworks_retry_after(ctx->attempt.sr, &ra);

        if (rc == NGX_ERROR) {
            ngx_http_fireworks_count_retry_after(ctx,
                                                 NGX_HTTP_FIREWORKS_RA_IGNORED);
        }
    }

    if (rc == NGX_OK) {

        if (ra > flcf->retry_after_max) {
            ngx_log_error(flcf->log_level, r->connection->log, 0,
                          "fireworks: attempt %ui got %ui, retry after "
                          "%Mms exceeds fireworks_retry_after_max",
                          ctx->attempts, status, ra);
            ngx_http_fireworks_count_retry_after(ctx,
                                                NGX_HTTP_FIREWORKS_RA_OVER_MAX);
            return NGX_HTTP_FIREWORKS_OUTCOME_RETRY_AFTER;
        }

        ngx_http_fireworks_count_retry_after(ctx,
                                             NGX_HTTP_FIREWORKS_RA_HONOURED);

        delay = ra + ngx_http_fireworks_jitter(flcf);

    } else {
        delay = ngx_http_fireworks_backoff(flcf, ctx->attempts);
    }

    outcome = ngx_http_fireworks_fits(ctx, delay);

    if (outcome != NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks decide: a wait of %Mms does not fit: %V",
                       delay, &ngx_http_fireworks_outcomes[outcome]);
        return outcome;
    }

    /* the route's budget and gate watch the primary's retries only */

    outcome = ctx->fallback ? NGX_HTTP_FIREWORKS_OUTCOME_NONE
                            : ngx_http_fireworks_guard_retry(r, ctx, &delay);

    if (outcome != NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        ngx_log_error(flcf->log_level, r->connection->log, 0,
                      "fireworks: attempt %ui got %ui, no retry: %V",
                      ctx->attempts, status,
                      &ngx_http_fireworks_outcomes[outcome]);
        return outcome;
    }

    ctx->delay = delay;

    ngx_log_error(flcf->log_level, r->connection->log, 0,
                  "fireworks: attempt %ui got %ui, retrying in %Mms",
                  ctx->attempts, status, delay);

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
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


/*
 * Whether a wait of delay ends before the deadline and, in a worker that
 * is exiting, before worker_shutdown_timeout closes its connections:
 * OUTCOME_NONE if it does, else the limit it would pass.  Without that
 * timeout an exiting worker keeps retrying what it holds, as it keeps
 * serving any other request, up to each request's deadline.  The
 * shutdown timer is taken to start when the module first saw the worker
 * exiting, which is no earlier than it did.
 */

static ngx_http_fireworks_outcome_e
ngx_http_fireworks_fits(ngx_http_fireworks_ctx_t *ctx, ngx_msec_t delay)
{
    ngx_msec_t        end;
    ngx_core_conf_t  *ccf;

    if (ctx->deadline
        && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec)
           <= (ngx_msec_int_t) delay)
    {
        return NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE;
    }

    if (!ngx_exiting) {
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    if (ngx_http_fireworks_exiting == 0) {
        ngx_http_fireworks_exiting = ngx_current_msec ? ngx_current_msec : 1;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    if (ccf->shutdown_timeout == 0) {
        return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
    }

    end = ngx_http_fireworks_exiting + ccf->shutdown_timeout;

    if ((ngx_msec_int_t) (end - ngx_current_msec) <= (ngx_msec_int_t) delay) {
        return NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN;
    }

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
}


/*
 * $fireworks_statuses and $fireworks_results: each attempt's status, as
 * the API or nginx gave it, and what failed when the API gave none.
 */

static ngx_http_fireworks_result_t *
ngx_http_fireworks_result(ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status,
    ngx_uint_t kind)
{
    ngx_http_fireworks_result_t  *res;

    res = ngx_array_push(&ctx->results);

    if (res == NULL) {
        /* not listed, still counted */
        res = &ctx->last;
    }

    res->status = (u_short) status;
    res->kind = (u_short) kind;

    ctx->last = *res;

    return res;
}


/*
 * Why an attempt got no status from the API: the module's own cut, what
 * the upstream's peer saw fail (ngx_http_fireworks_peer.c), or else what
 * its upstream state shows.
 */

static ngx_uint_t
ngx_http_fireworks_kind(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_array_t                *states;
    ngx_http_upstream_t        *u;
    ngx_http_upstream_state_t  *st;

    switch (ctx->attempt.cut) {

    case NGX_HTTP_FIREWORKS_CUT_DEADLINE:
        return NGX_HTTP_FIREWORKS_KIND_DEADLINE;

    case NGX_HTTP_FIREWORKS_CUT_ATTEMPT:
        return NGX_HTTP_FIREWORKS_KIND_TIMEOUT;

    default:
        break;
    }

    if (ctx->attempt.kind != NGX_HTTP_FIREWORKS_KIND_NONE) {
        return ctx->attempt.kind;
    }

    u = ctx->attempt.sr->upstream;

    if (u == NULL || (ctx->attempt.rc != NGX_HTTP_BAD_GATEWAY
                      && ctx->attempt.rc != NGX_HTTP_GATEWAY_TIME_OUT))
    {
        return NGX_HTTP_FIREWORKS_KIND_NONE;
    }

    states = ctx->attempt.sr->upstream_states;

    if (states == NULL || states->nelts == 0) {

        /* no connection was tried: the name did not resolve */

        return (u->resolved != NULL && u->resolved->sockaddr == NULL)
               ? NGX_HTTP_FIREWORKS_KIND_DNS : NGX_HTTP_FIREWORKS_KIND_NONE;
    }

    st = states->elts;
    st = &st[states->nelts - 1];

    if (st->connect_time == (ngx_msec_t) -1) {
        return (st->status == NGX_HTTP_GATEWAY_TIME_OUT)
               ? NGX_HTTP_FIREWORKS_KIND_CONNECT_TIMEOUT
               : NGX_HTTP_FIREWORKS_KIND_CONNECT_REFUSED;
    }

    if (st->status == NGX_HTTP_GATEWAY_TIME_OUT) {
        return NGX_HTTP_FIREWORKS_KIND_TIMEOUT;
    }

    return (st->bytes_received > 0) ? NGX_HTTP_FIREWORKS_KIND_INVALID_HEADER
                                    : NGX_HTTP_FIREWORKS_KIND_RESET;
}


static void
ngx_http_fireworks_wait(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    if (ctx->attempts) {
        ngx_http_fireworks_count_attempt(ctx, &ctx->last, 1);
    }

    ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_BACKOFF,
                                 NGX_HTTP_FIREWORKS_OUTCOME_NONE);

    /* watch the client while waiting, as limit_req does */

    r->read_event_handler = ngx_http_test_reading;

    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_DONE,
                                     NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* exact, not lazy: the attempt's timer may be close to the wait */

    ngx_http_fireworks_arm(ctx, NULL, 0);
    ngx_http_fireworks_arm(ctx, ngx_http_fireworks_backoff_handler,
                           ctx->delay ? ctx->delay : 1);
}


/* the forwarded attempt has ended: so does the client's response */

static void
ngx_http_fireworks_finish(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_fireworks_loc_conf_t  *flcf;

    ngx_http_fireworks_arm(ctx, NULL, 0);
    ngx_http_fireworks_merge_states(r, ctx, 0);
    ngx_http_fireworks_keep_variables(r, ctx, 0);
    ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_DONE,
                                 NGX_HTTP_FIREWORKS_OUTCOME_NONE);

    if (r->header_only) {
        ngx_http_finalize_request(r, NGX_OK);
        return;
    }

    if (ctx->attempt.complete) {
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
        ngx_http_finalize_request(r, rc);
        return;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (flcf->stream_error && ctx->attempt.sse) {

        if (ngx_http_fireworks_open_ended(r)) {
            rc = ngx_http_fireworks_stream_error(r, ctx);
            ngx_http_finalize_request(r, rc);
            return;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks stream of length %O: no error event",
                       r->headers_out.content_length_n);
    }

    /*
     * the upstream broke off or was cut: no last buffer, so the client
     * sees a truncated response and the connection closes, as with a
     * plain proxy
     */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks response truncated");

    r->keepalive = 0;
    ngx_http_finalize_request(r, NGX_OK);
}


/* the attempt's limit: fireworks_attempt_timeout or the deadline */

static void
ngx_http_fireworks_attempt_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_fireworks_cut_e        cut;
    ngx_http_fireworks_ctx_t       *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    cut = (ctx->deadline
           && (ngx_msec_int_t) (ngx_current_msec - ctx->deadline) >= 0)
          ? NGX_HTTP_FIREWORKS_CUT_DEADLINE : NGX_HTTP_FIREWORKS_CUT_ATTEMPT;

    if (!ctx->attempt.cut_warned) {
        ctx->attempt.cut_warned = 1;

        if (cut == NGX_HTTP_FIREWORKS_CUT_DEADLINE) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fireworks: deadline of %Mms reached in attempt %ui",
                          ctx->limits.deadline, ctx->attempts);

        } else if (ctx->state == NGX_HTTP_FIREWORKS_DISCARD) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fireworks: attempt %ui timed out after %Mms "
                          "while its %ui answer was discarded",
                          ctx->attempts, ctx->limits.attempt_timeout,
                          ctx->attempt.status);

        } else if (ctx->state == NGX_HTTP_FIREWORKS_HOLD) {

            /* held, its header is not the client's yet: the limit runs on */

            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fireworks: attempt %ui timed out after %Mms "
                          "while its header was held",
                          ctx->attempts, ctx->limits.attempt_timeout);

        } else {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fireworks: attempt %ui timed out after %Mms",
                          ctx->attempts, ctx->limits.attempt_timeout);
        }
    }

    if (ngx_http_fireworks_cut(r, ctx, cut) == NGX_AGAIN) {

        /* no upstream to end yet (a phase before the proxy): look again */

        ngx_http_fireworks_arm(ctx, ngx_http_fireworks_attempt_handler, 100);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_fireworks_backoff_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "fireworks backoff of %Mms done", ctx->delay);

    if (c->error) {
        ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_DONE,
                                     NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED);
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        goto done;
    }

    switch (ctx->fallback_next ? NGX_OK
                               : ngx_http_fireworks_guard_hold(r, ctx,
                                                               &ctx->delay))
    {

    case NGX_AGAIN:
        /* the gate closed meanwhile, or held retries start first */
        ngx_http_fireworks_arm(ctx, ngx_http_fireworks_backoff_handler,
                               ctx->delay);
        goto done;

    case NGX_DECLINED:
        if (ctx->attempts) {
            ngx_http_fireworks_give_up(r, ctx, NGX_HTTP_GATEWAY_TIME_OUT,
                                       NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE);
            goto done;
        }

        /* a first attempt the gate cannot hold in time goes now */
        break;

    default:
        break;
    }

    if (ngx_http_fireworks_start(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

done:

    ngx_http_run_posted_requests(c);
}


/*
 * The idle timeout of a forwarded answer.  Idle means the upstream sent
 * nothing while the client could take more: with output still buffered
 * for a slow client nginx does not read the upstream, and that is no
 * stall of the API.
 */

static void
ngx_http_fireworks_idle_handler(ngx_event_t *ev)
{
    ngx_msec_t                      idle;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_fireworks_ctx_t       *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (ctx->limits.idle_timeout == 0 || ctx->attempt.ended) {
        return;
    }

    idle = ngx_current_msec - ctx->attempt.last_data;

    if (idle < ctx->limits.idle_timeout) {
        ngx_add_timer(&ctx->timer, ctx->limits.idle_timeout - idle);
        return;
    }

    if (c->buffered) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "fireworks idle: the client is slow");

        ctx->attempt.last_data = ngx_current_msec;
        ngx_add_timer(&ctx->timer, ctx->limits.idle_timeout);
        return;
    }

    switch (ngx_http_fireworks_cut(r, ctx, NGX_HTTP_FIREWORKS_CUT_IDLE)) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        /* a file read in progress: look again soon */
        ngx_add_timer(&ctx->timer, 100);
        return;

    default:
        /* nothing to cut: no upstream feeds the answer */
        return;
    }

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "fireworks: no data for %Mms, response cut",
                  ctx->limits.idle_timeout);

    ngx_http_run_posted_requests(c);
}


/* sets the ctx timer to t from now with a handler, 0 deletes it */

static void
ngx_http_fireworks_arm(ngx_http_fireworks_ctx_t *ctx,
    ngx_event_handler_pt handler, ngx_msec_t t)
{
    if (t) {
        ctx->timer.handler = handler;

        /* re-adding within NGX_TIMER_LAZY_DELAY keeps the tree untouched */
        ngx_add_timer(&ctx->timer, t);
        return;
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/*
 * Ends the attempt in progress the way nginx ends an upstream whose
 * client went away (its cleanup handler: resolver, connection, peer),
 * then finalizes the attempt as timed out, which the post_subrequest
 * handler records.  Nothing of the upstream's event handling runs in
 * between.  NGX_AGAIN when the attempt cannot be ended yet (no upstream
 * yet, a file read in progress), NGX_DECLINED when there is nothing to
 * end.
 */

static ngx_int_t
ngx_http_fireworks_cut(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_cut_e cut)
{
    ngx_http_request_t   *sr;
    ngx_http_upstream_t  *u;
    ngx_http_cleanup_pt   upstream_cleanup;

    sr = ctx->attempt.sr;

    if (sr == NULL || ctx->attempt.ended) {
        return NGX_DECLINED;
    }

    u = sr->upstream;

    if (u == NULL || u->cleanup == NULL || *u->cleanup == NULL) {

        /* before its header an attempt may get an upstream yet */

        return (ctx->state == NGX_HTTP_FIREWORKS_FORWARD) ? NGX_DECLINED
                                                          : NGX_AGAIN;
    }

    if (r->main->blocked || sr->aio) {
        return NGX_AGAIN;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks cut attempt %ui: %d", ctx->attempts, cut);

    ctx->attempt.cut = cut;

    /* the upstream's cleanup ends with a finalize of its own: NGX_DONE */

    upstream_cleanup = *u->cleanup;

    r->main->count++;
    upstream_cleanup(sr);

    ngx_http_finalize_request(sr, NGX_HTTP_GATEWAY_TIME_OUT);

    return NGX_OK;
}


/*
 * A discarded attempt has ended: what the main request keeps of it is
 * copied out, everything that links into the attempt's pool is unlinked,
 * and the pool is freed.
 */

static void
ngx_http_fireworks_end_attempt(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_http_request_t         *sr;
    ngx_http_cleanup_t         *cln;
    ngx_http_posted_request_t  *pr, **ppr;

    sr = ctx->attempt.sr;

    ngx_http_fireworks_merge_states(r, ctx, 1);
    ngx_http_fireworks_keep_variables(r, ctx, 1);

    /* cleanups the attempt added: the upstream's has run, a module's may not */

    for (cln = r->cleanup;
         cln && cln != ctx->attempt.cleanup;
         cln = cln->next)
    {
        if (cln->handler) {
            cln->handler(cln->data);
        }
    }

    r->cleanup = ctx->attempt.cleanup;

    for (ppr = &r->posted_requests; *ppr; /* void */) {
        pr = *ppr;

        if (pr->request == sr) {
            *ppr = pr->next;
            continue;
        }

        ppr = &pr->next;
    }

    ngx_http_set_log_request(r->connection->log, r);

    ngx_http_fireworks_pool_put(ctx->attempt.pool);

    ctx->attempt.pool = NULL;
    ctx->attempt.sr = NULL;
}


/*
 * $upstream_status and friends of the main request list every attempt.
 * The states of an attempt whose pool is freed are copied (copy), the
 * peer's name with them, and kept: ctx->states counts them.  Those of
 * the forwarded attempt, whose pool lives as long as the request, are
 * adopted as they are when they are the first; else they are copied
 * when its header goes to the client, for the client location's header
 * filters, and copied again when it ends, with its times and lengths.
 */

static void
ngx_http_fireworks_merge_states(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t copy)
{
    u_char                     *p;
    ngx_str_t                  *peer;
    ngx_uint_t                  i, n;
    ngx_array_t                *states;
    ngx_http_request_t         *sr;
    ngx_http_upstream_state_t  *st;

    sr = ctx->attempt.sr;
    states = (sr != NULL) ? sr->upstream_states : NULL;

    if (states == NULL || states->nelts == 0
        || r->upstream_states == states)
    {
        return;
    }

    if (r->upstream_states == NULL) {

        if (!copy) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "fireworks upstream states adopted");
            r->upstream_states = states;
            return;
        }

        r->upstream_states = ngx_array_create(r->pool, states->nelts + 1,
                                            sizeof(ngx_http_upstream_state_t));
        if (r->upstream_states == NULL) {
            return;
        }
    }

    /* a copy made when the header went out is replaced */

    r->upstream_states->nelts = ctx->states;

    n = states->nelts;

    st = ngx_array_push_n(r->upstream_states, n);
    if (st == NULL) {
        return;
    }

    ngx_memcpy(st, states->elts, n * sizeof(ngx_http_upstream_state_t));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks upstream states: %ui kept, %ui copied",
                   ctx->states, n);

    if (!copy) {
        return;
    }

    ctx->states = r->upstream_states->nelts;

    for (i = 0; i < n; i++) {

        if (st[i].peer == NULL) {
            continue;
        }

        peer = ngx_palloc(r->pool, sizeof(ngx_str_t) + st[i].peer->len);
        if (peer == NULL) {
            st[i].peer = NULL;
            continue;
        }

        p = (u_char *) (peer + 1);
        ngx_memcpy(p, st[i].peer->data, st[i].peer->len);

        peer->len = st[i].peer->len;
        peer->data = p;

        st[i].peer = peer;
    }
}


/*
 * Subrequests share the main request's cached variable values; an
 * attempt caches them in a copy (ngx_http_fireworks_subrequest()), so
 * that none outlives its pool.  What it cached is the main request's
 * too, as in any subrequest: $request_id, a map's value, are then the
 * same in every attempt and in the access log.  Values that change from
 * attempt to attempt ($upstream_*, $fireworks_*) are never cached.  The
 * value is copied (copy) when the attempt's pool goes before the
 * request's.
 */

static void
ngx_http_fireworks_keep_variables(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t copy)
{
    u_char                     *p;
    ngx_uint_t                  i;
    ngx_http_request_t         *sr;
    ngx_http_variable_value_t  *v, *mv;
    ngx_http_core_main_conf_t  *cmcf;

    sr = ctx->attempt.sr;

    if (sr == NULL || sr->variables == NULL
        || sr->variables == r->variables)
    {
        return;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    for (i = 0; i < cmcf->variables.nelts; i++) {
        v = &sr->variables[i];
        mv = &r->variables[i];

        if (!(v->valid || v->not_found) || v->no_cacheable
            || mv->valid || mv->not_found)
        {
            continue;
        }

        *mv = *v;

        if (copy && v->valid && v->len) {
            p = ngx_pnalloc(r->pool, v->len);
            if (p == NULL) {
                mv->valid = 0;
                continue;
            }

            ngx_memcpy(p, v->data, v->len);
            mv->data = p;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks variable \"%V\" kept, copy %ui",
                       &((ngx_http_variable_t *) cmcf->variables.elts)[i].name,
                       copy);
    }
}


/*
 * Every state change: the waited time is counted when a wait ends, the
 * outcome is set once, the first time one is given.
 */

static void
ngx_http_fireworks_set_state(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_state_e state,
    ngx_http_fireworks_outcome_e outcome)
{
    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks state: %s -> %s, attempt %ui, outcome %d",
                   ngx_http_fireworks_states[ctx->state],
                   ngx_http_fireworks_states[state], ctx->attempts, outcome);

    if (ctx->state == NGX_HTTP_FIREWORKS_BACKOFF) {
        ctx->waited += ngx_current_msec - ctx->wait_start;
        ngx_http_fireworks_count_backoff(ctx,
                                         ngx_current_msec - ctx->wait_start);
    }

    if (state == NGX_HTTP_FIREWORKS_BACKOFF) {
        ctx->wait_start = ngx_current_msec;
    }

    if (ctx->outcome == NGX_HTTP_FIREWORKS_OUTCOME_NONE) {
        ctx->outcome = outcome;
    }

    ngx_http_fireworks_gauges(ctx, state);

    ctx->state = state;
}


/*
 * The gauges follow the states, here and only here: in flight from the
 * end of the body to DONE; waiting and held by the gate while in
 * BACKOFF, released as it ends; everything at DONE, which every way out
 * reaches (the cleanup's at the latest).  The budget's admission counts
 * waiting and retrying itself, under the zone's lock, as it decides
 * (ngx_http_fireworks_guard_retry()): a cap is exact only if the check
 * and the count are one step; it takes back only what the same decision
 * refuses at once.  Counting functions only count.
 */

static void
ngx_http_fireworks_gauges(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_state_e state)
{
    ngx_http_fireworks_route_t  *route;

    route = ctx->route;

    if (route == NULL || state == ctx->state) {
        return;
    }

    if (ctx->state == NGX_HTTP_FIREWORKS_BODY
        && state != NGX_HTTP_FIREWORKS_DONE
        && !ctx->in_flight)
    {
        ctx->in_flight = (ngx_http_fireworks_gauge_add(ctx, route->in_flight,
                                                       1)
                          == NGX_OK);
    }

    if (ctx->state == NGX_HTTP_FIREWORKS_BACKOFF) {
        ngx_http_fireworks_guard_release(ctx, 0);
    }

    if (state != NGX_HTTP_FIREWORKS_DONE) {
        return;
    }

    ngx_http_fireworks_guard_release(ctx, 1);

    if (ctx->in_flight) {
        (void) ngx_http_fireworks_gauge_add(ctx, route->in_flight, -1);
        ctx->in_flight = 0;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "fireworks gauges released");
}


/*
 * The request's cleanup, on every way out, before the access log: the
 * timer goes, an attempt cut short by the client or by the worker's
 * shutdown still shows in $upstream_*, and the request ends DONE.
 */

static void
ngx_http_fireworks_cleanup(void *data)
{
    ngx_http_fireworks_ctx_t  *ctx = data;

    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->timer.posted) {
        ngx_delete_posted_event(&ctx->timer);
    }

    /*
     * An error_page's internal redirect zeroed it: the log phase needs it.
     * The cleanups run newest first: the newest pass's ctx is the one
     * kept, and it leads to the earlier ones.
     */

    if (ngx_http_get_module_ctx(r, ngx_http_fireworks_module) == NULL) {
        ngx_http_set_ctx(r, ctx, ngx_http_fireworks_module);
    }

    ngx_http_fireworks_left(r, ctx);

    if (ctx->state == NGX_HTTP_FIREWORKS_DONE
        || ctx->state == NGX_HTTP_FIREWORKS_BODY)
    {
        return;
    }

    if (ctx->attempt.sr != NULL) {
        ngx_http_fireworks_merge_states(r, ctx, 0);
        ngx_http_fireworks_keep_variables(r, ctx, 0);

        if (ctx->state == NGX_HTTP_FIREWORKS_ATTEMPT
            || ctx->state == NGX_HTTP_FIREWORKS_HOLD)
        {
            ngx_http_fireworks_count_attempt(ctx,
                ngx_http_fireworks_result(ctx, 0,
                                         NGX_HTTP_FIREWORKS_KIND_CLIENT_CLOSED),
                0);
        }
    }

    ngx_http_fireworks_set_state(r, ctx, NGX_HTTP_FIREWORKS_DONE,
                                 (ngx_exiting || ngx_terminate)
                                 ? NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN
                                 : NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED);
}


/*
 * An answer of this pass the client left before it was whole (its
 * connection broke after the header went out, mid-stream typically):
 * whatever the answer was, the request ends client_closed, or shutdown
 * when the worker's shutdown closed it.  The status stays the one sent,
 * as in the access log behind proxy_pass.  Only the pass whose attempt
 * was forwarded keeps it (ctx->attempt.sr): one that gave up, even if an
 * error_page led to the answer, keeps its outcome.
 */

static void
ngx_http_fireworks_left(ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx)
{
    if (!r->connection->error
        || !r->header_sent
        || ctx->attempt.sr == NULL)
    {
        return;
    }

    ctx->outcome = (ngx_exiting || ngx_terminate)
                   ? NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN
                   : NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks: the client left after the header, %ui, "
                   "outcome %d", r->headers_out.status, ctx->outcome);
}


/* after the access log: the last attempt's pool goes with the request's */

static void
ngx_http_fireworks_pool_cleanup(void *data)
{
    ngx_http_fireworks_ctx_t  *ctx = data;

    if (ctx->attempt.pool) {
        ngx_http_fireworks_pool_put(ctx->attempt.pool);
        ctx->attempt.pool = NULL;
    }
}
