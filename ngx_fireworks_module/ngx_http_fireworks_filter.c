
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Header and body filters on the attempts.  They sit above the postpone
 * filter, so they see each attempt's header and body before anything can
 * reach the client: a retryable answer is swallowed here, the final one
 * becomes the main request's response, byte for byte.
 */


#include "ngx_http_fireworks_module.h"


static ngx_int_t ngx_http_fireworks_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_fireworks_forward(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx);
static ngx_http_fireworks_ctx_t *ngx_http_fireworks_attempt_ctx(
    ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


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

    if (ctx == NULL || ctx->sr != r) {
        return NULL;
    }

    return ctx;
}


static ngx_int_t
ngx_http_fireworks_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                 status;
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_fireworks_attempt_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks header filter: attempt %ui, status %ui, "
                   "state %d", ctx->attempt, status, ctx->state);

    switch (ctx->state) {

    case NGX_HTTP_FIREWORKS_RUNNING:

        ngx_http_fireworks_record_status(ctx, status);

        if (ngx_http_fireworks_decide(ctx, r, status) == NGX_OK) {

            /* the body filter swallows the body, keeping the connection */
            ctx->state = NGX_HTTP_FIREWORKS_DISCARD;
            return ngx_http_next_header_filter(r);
        }

        return ngx_http_fireworks_forward(r, ctx);

    case NGX_HTTP_FIREWORKS_GIVEUP:
        return ngx_http_fireworks_forward(r, ctx);

    default:
        return ngx_http_next_header_filter(r);
    }
}


static ngx_int_t
ngx_http_fireworks_forward(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_request_t             *r;
    ngx_http_fireworks_loc_conf_t  *flcf;

    r = sr->main;

    ctx->state = NGX_HTTP_FIREWORKS_FORWARD;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    /*
     * The idle timeout starts now.  A timer already due no later than it
     * is kept: when it fires the handler sees FORWARD, measures the idle
     * time from last_data and waits on, so a short answer that ends at
     * once costs no timer tree update.
     */

    ctx->last_data = ngx_current_msec;

    if (!ctx->timer.timer_set
        || (ngx_msec_int_t) (ctx->timer.timer.key - ngx_current_msec)
           > (ngx_msec_int_t) flcf->idle_timeout)
    {
        ngx_http_fireworks_arm(ctx, 0);
        ngx_http_fireworks_arm(ctx, flcf->idle_timeout);
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

    /* the answer is the API's: no 304 or 206 made from it here */

    r->disable_not_modified = 1;
    r->allow_ranges = 0;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    if (r->header_only) {
        /* HEAD, 204: stop reading the upstream after its header */
        sr->header_only = 1;
    }

    return ngx_http_next_header_filter(sr);
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

    case NGX_HTTP_FIREWORKS_FORWARD:

        for (cl = in; cl; cl = cl->next) {
            if (cl->buf->last_in_chain || cl->buf->last_buf) {
                ctx->complete = 1;
            }
        }

        /*
         * the idle timer is not moved on every chunk: it checks when it
         * fires how long ago the last data came
         */

        ctx->last_data = ngx_current_msec;

        if (ctx->complete) {
            ngx_http_fireworks_arm(ctx, 0);
        }

        return ngx_http_next_body_filter(r, in);

    default:
        return ngx_http_next_body_filter(r, in);
    }
}
