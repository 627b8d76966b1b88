
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * fireworks_fallback: when the primary's attempts end in a retryable
 * answer or failure (tries spent, or the gateway gives up on it for any
 * retryable reason while the deadline leaves time), the request goes on
 * with attempts to a second internal location, up to its own tries,
 * within the same deadline and with the same backoff and Retry-After
 * rules.  The fallback is no retry of the primary: its attempts are not
 * held by the route's gate, do not close it, and do not count in the
 * route's retry budget or waiting cap, which watch the primary.  With
 * model=, the replayed body's top-level "model" string is replaced: the
 * scan (ngx_http_fireworks_inspect.c) found where it is, and the body
 * the fallback gets is a chain of the client's buffers (memory or the
 * temporary file) around the new value, every other byte unchanged.
 */


#include "ngx_http_fireworks_module.h"


static ngx_int_t ngx_http_fireworks_fallback_build(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_str_t *model);
static ngx_int_t ngx_http_fireworks_fallback_piece(ngx_http_request_t *r,
    ngx_chain_t ***ll, ngx_buf_t *b, off_t pos, off_t from, off_t to);


/*
 * The primary gave up with outcome: OUTCOME_NONE if the fallback takes
 * over (the next attempt is its, at once), else the outcome unchanged.
 */

ngx_http_fireworks_outcome_e
ngx_http_fireworks_fallback_switch(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status,
    ngx_http_fireworks_outcome_e outcome)
{
    ngx_http_fireworks_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (flcf->fallback == NULL || ctx->fallback_next) {
        return outcome;
    }

    switch (outcome) {

    case NGX_HTTP_FIREWORKS_OUTCOME_TRIES:
    case NGX_HTTP_FIREWORKS_OUTCOME_RETRY_AFTER:
    case NGX_HTTP_FIREWORKS_OUTCOME_BUDGET:
    case NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE:
        break;

    default:
        /* done (not retryable), the client gone, the worker exiting */
        return outcome;
    }

    if (ngx_exiting || ngx_terminate
        || (ctx->deadline
            && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks fallback: no time left, %V",
                       &ngx_http_fireworks_outcomes[outcome]);
        return outcome;
    }

    ngx_log_error(flcf->log_level, r->connection->log, 0,
                  "fireworks: attempt %ui got %ui, falling back: %V",
                  ctx->attempts, status,
                  &ngx_http_fireworks_outcomes[outcome]);

    ngx_http_fireworks_count_fallback(ctx, outcome);

    ctx->fallback_next = 1;
    ctx->fallback_from = ctx->attempts;
    ctx->delay = 0;

    return NGX_HTTP_FIREWORKS_OUTCOME_NONE;
}


/*
 * The first of the fallback's attempts: its uri, once.  The arguments are
 * the primary's.  As for fireworks_pass, a "?" the uri holds ($uri is
 * decoded: a client's "%3F") is path, hidden from the check in a copy.
 */

ngx_int_t
ngx_http_fireworks_fallback_start(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    u_char                         *p, *last;
    ngx_str_t                       uri, check, args;
    ngx_uint_t                      flags;
    ngx_http_fireworks_loc_conf_t  *flcf;

    if (!ctx->fallback_next || ctx->fallback) {
        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (ngx_http_complex_value(r, flcf->fallback, &uri) != NGX_OK) {
        return NGX_ERROR;
    }

    check = uri;
    last = uri.data + uri.len;

    if (ngx_strlchr(uri.data, last, '?') != NULL) {
        check.data = ngx_pnalloc(r->pool, uri.len);
        if (check.data == NULL) {
            return NGX_ERROR;
        }

        last = ngx_cpymem(check.data, uri.data, uri.len);

        for (p = check.data; p < last; p++) {
            if (*p == '?') {
                *p = '_';
            }
        }
    }

    ngx_str_null(&args);
    flags = 0;

    if (ngx_http_parse_unsafe_uri(r, &check, &args, &flags) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "fireworks: unsafe uri \"%V\" in fireworks_fallback",
                      &uri);
        return NGX_ERROR;
    }

    ctx->fallback = 1;
    ctx->uri = uri;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks fallback: \"%V?%V\"", &ctx->uri, &ctx->args);

    return NGX_OK;
}


/* a fallback attempt's body: the client's with the model replaced */

ngx_int_t
ngx_http_fireworks_fallback_body(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_request_t *sr)
{
    ngx_int_t                       rc;
    ngx_http_fireworks_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    if (!ctx->fallback || flcf->fallback_model.len == 0) {
        return NGX_OK;
    }

    if (ctx->fallback_body == NULL) {
        rc = ngx_http_fireworks_fallback_build(r, ctx, &flcf->fallback_model);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {

            /* no model to replace: the body goes as the client sent it */

            ctx->fallback_body = r->request_body;
            ctx->fallback_length = -1;
        }
    }

    if (ctx->fallback_length >= 0) {
        sr->request_body = ctx->fallback_body;
        sr->headers_in.content_length_n = ctx->fallback_length;
    }

    return NGX_OK;
}


/*
 * The body as the client sent it, as a chain: the bytes before the model
 * string, the new one, the bytes after it.  A body buffer's pieces are
 * copies of its ngx_buf_t pointing into the same memory or file, so no
 * byte of the body is copied.  NGX_DECLINED: no model to replace.
 */

static ngx_int_t
ngx_http_fireworks_fallback_build(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_str_t *model)
{
    off_t                       pos, size, start, end, length;
    ngx_buf_t                  *b;
    ngx_uint_t                  inserted;
    ngx_chain_t                *cl, **ll;
    ngx_http_request_body_t    *rb, *nrb;
    ngx_http_fireworks_json_t  *js;

    ngx_http_fireworks_inspect(r, ctx);

    js = ctx->js;
    rb = r->request_body;

    if (js == NULL || ctx->scan_failed || js->value_end == 0
        || rb == NULL || rb->bufs == NULL)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks fallback: no model in the body");
        return NGX_DECLINED;
    }

    start = js->value_start;
    end = js->value_end;

    nrb = ngx_palloc(r->pool, sizeof(ngx_http_request_body_t));
    if (nrb == NULL) {
        return NGX_ERROR;
    }

    *nrb = *rb;
    nrb->bufs = NULL;

    ll = &nrb->bufs;
    pos = 0;
    inserted = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_size(b);

        if (ngx_http_fireworks_fallback_piece(r, &ll, b, pos, pos,
                                              ngx_min(pos + size, start))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (!inserted && start <= pos + size) {
            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->memory = 1;
            b->pos = model->data;
            b->last = model->data + model->len;

            *ll = ngx_alloc_chain_link(r->pool);
            if (*ll == NULL) {
                return NGX_ERROR;
            }

            (*ll)->buf = b;
            (*ll)->next = NULL;
            ll = &(*ll)->next;

            inserted = 1;
        }

        if (ngx_http_fireworks_fallback_piece(r, &ll, cl->buf, pos,
                                              ngx_max(pos, end), pos + size)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        pos += size;
    }

    if (!inserted || end > pos) {
        return NGX_DECLINED;
    }

    length = pos - (end - start) + (off_t) model->len;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks fallback: model at %O-%O replaced, "
                   "length %O, was %O", start, end, length, pos);

    ctx->fallback_body = nrb;
    ctx->fallback_length = length;

    return NGX_OK;
}


/* [from, to) of the body, where b holds [pos, pos + its size) */

static ngx_int_t
ngx_http_fireworks_fallback_piece(ngx_http_request_t *r, ngx_chain_t ***ll,
    ngx_buf_t *b, off_t pos, off_t from, off_t to)
{
    ngx_buf_t    *nb;
    ngx_chain_t  *cl;

    if (to <= from) {
        return NGX_OK;
    }

    nb = ngx_alloc_buf(r->pool);
    if (nb == NULL) {
        return NGX_ERROR;
    }

    *nb = *b;

    if (ngx_buf_in_memory(b)) {
        nb->pos = b->pos + (from - pos);
        nb->last = b->pos + (to - pos);
    }

    if (b->in_file) {
        nb->file_pos = b->file_pos + (from - pos);
        nb->file_last = b->file_pos + (to - pos);
    }

    /* only the piece that ends where the buffer ends keeps its flags */

    if (to != pos + ngx_buf_size(b)) {
        nb->last_buf = 0;
        nb->last_in_chain = 0;
        nb->flush = 0;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = nb;
    cl->next = NULL;

    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}
