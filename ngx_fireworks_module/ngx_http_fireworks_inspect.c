
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The request body, looked at once: the top-level "model" and "stream"
 * of a JSON body, for $fireworks_model and $fireworks_stream, workloads
 * chosen per model, the metrics' model label and the fallback's model
 * rewrite.  The body is scanned as nginx reads it from the client, in a
 * request body filter: the scanner (ngx_http_fireworks_json.c) keeps its
 * state across buffers in constant memory, so a body of any size is seen
 * whole without being read back from its temporary file, up to
 * fireworks_inspect_size bytes.  A body some other module read before
 * fireworks_pass ran never passed the filter on our watch: that one is
 * read back from memory or its file, as far as the same limit.  The
 * scanner is strict and bounded: a body that is not valid JSON leaves
 * both empty, and the body itself is never changed.
 */


#include "ngx_http_fireworks_module.h"


#define NGX_HTTP_FIREWORKS_INSPECT_CHUNK  4096


static ngx_int_t ngx_http_fireworks_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_fireworks_scan(ngx_http_fireworks_ctx_t *ctx,
    u_char *p, off_t size);
static void ngx_http_fireworks_read_back(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
static ngx_int_t ngx_http_fireworks_feed_file(ngx_http_fireworks_ctx_t *ctx,
    ngx_buf_t *b, off_t size);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


/*
 * The body is scanned as it is read only where something will ask for
 * its model: $fireworks_model or $fireworks_stream used by name in the
 * configuration (a map, a log format, a header), fireworks_metrics_model,
 * or a fallback's model=.  A lookup nginx could not see coming (SSI, njs,
 * perl) still gets its answer, read back from the body.
 */

ngx_int_t
ngx_http_fireworks_inspect_init(ngx_conf_t *cf)
{
    ngx_uint_t                       i;
    ngx_http_variable_t             *v;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_fireworks_main_conf_t  *fmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_fireworks_module);

    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if ((v[i].name.len == 15
             && ngx_strncmp(v[i].name.data, "fireworks_model", 15) == 0)
            || (v[i].name.len == 16
                && ngx_strncmp(v[i].name.data, "fireworks_stream", 16) == 0))
        {
            fmcf->scan = 1;
        }
    }

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_fireworks_request_body_filter;

    return NGX_OK;
}


/*
 * Called by the handler just before it reads the body: from then on the
 * filter below sees every byte of it, de-chunked, before it is saved.
 */

ngx_int_t
ngx_http_fireworks_inspect_start(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_http_fireworks_loc_conf_t   *flcf;
    ngx_http_fireworks_main_conf_t  *fmcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);
    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fireworks_module);

    ctx->inspect_left = (flcf->inspect_size == NGX_MAX_SIZE_T_VALUE)
                        ? NGX_MAX_OFF_T_VALUE : (off_t) flcf->inspect_size;

    if (!fmcf->scan || flcf->inspect_size == 0 || r->request_body != NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks body: no scan while read, used %ui, "
                       "size %uz", fmcf->scan, flcf->inspect_size);
        return NGX_OK;
    }

    ctx->js = ngx_palloc(r->pool, sizeof(ngx_http_fireworks_json_t));
    if (ctx->js == NULL) {
        return NGX_ERROR;
    }

    ngx_http_fireworks_json_init(ctx->js);

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    ngx_chain_t               *cl;
    ngx_http_fireworks_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_request_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);

    if (ctx == NULL || ctx->js == NULL || ctx->scan_done) {
        return ngx_http_next_request_body_filter(r, in);
    }

    for (cl = in; cl && !ctx->scan_done; cl = cl->next) {

        /* the body filters pass what was read: memory, never a file */

        if (!ngx_buf_in_memory(cl->buf)) {
            if (ngx_buf_size(cl->buf) == 0) {
                continue;
            }

            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "fireworks body: a file buffer, no scan");
            ctx->scan_done = 1;
            ctx->scan_failed = 1;
            break;
        }

        (void) ngx_http_fireworks_scan(ctx, cl->buf->pos,
                                       cl->buf->last - cl->buf->pos);
    }

    return ngx_http_next_request_body_filter(r, in);
}


/* size bytes of the body, as far as the limit; NGX_DECLINED: seen enough */

static ngx_int_t
ngx_http_fireworks_scan(ngx_http_fireworks_ctx_t *ctx, u_char *p, off_t size)
{
    ngx_int_t  rc;

    if (ctx->scan_done) {
        return NGX_DECLINED;
    }

    if (size > ctx->inspect_left) {
        size = ctx->inspect_left;
        ctx->scan_cut = 1;
    }

    ctx->inspect_left -= size;

    rc = ngx_http_fireworks_json_feed(ctx->js, p, p + size);

    if (rc == NGX_DECLINED) {
        ctx->scan_done = 1;
        ctx->scan_failed = 1;
        return NGX_DECLINED;
    }

    if (ctx->scan_cut) {
        ctx->scan_done = 1;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


void
ngx_http_fireworks_inspect(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_http_fireworks_json_t  *js;

    r = r->main;

    /* before the body is whole there is nothing to look at yet */

    if (ctx->inspected || !ctx->body_read) {
        return;
    }

    ctx->inspected = 1;

    if (ctx->js == NULL) {
        ngx_http_fireworks_read_back(r, ctx);

        if (ctx->js == NULL) {
            return;
        }
    }

    js = ctx->js;

    if (ctx->scan_failed
        || ngx_http_fireworks_json_end(js, !ctx->scan_cut) != NGX_OK)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks body: no JSON object");
        ctx->scan_failed = 1;
        return;
    }

    ctx->stream = js->stream;

    if (js->has_model && js->model_len) {
        ctx->model.data = ngx_pnalloc(r->pool, js->model_len);
        if (ctx->model.data == NULL) {
            return;
        }

        ngx_memcpy(ctx->model.data, js->model, js->model_len);
        ctx->model.len = js->model_len;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks body: model \"%V\" at %O-%O, stream %ui",
                   &ctx->model, js->value_start, js->value_end,
                   (ngx_uint_t) ctx->stream);
}


/*
 * A body read before fireworks_pass ran (by another module, in an earlier
 * phase): scanned now from its buffers, a file chunk at a time.
 */

static void
ngx_http_fireworks_read_back(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    off_t                    size;
    ngx_buf_t               *b;
    ngx_chain_t             *cl;
    ngx_http_request_body_t *rb;

    rb = r->request_body;

    if (rb == NULL || rb->bufs == NULL || ctx->inspect_left == 0) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks body: read back");

    ctx->js = ngx_palloc(r->pool, sizeof(ngx_http_fireworks_json_t));
    if (ctx->js == NULL) {
        return;
    }

    ngx_http_fireworks_json_init(ctx->js);

    for (cl = rb->bufs; cl && !ctx->scan_done; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            (void) ngx_http_fireworks_scan(ctx, b->pos, b->last - b->pos);

        } else if (b->in_file) {
            size = b->file_last - b->file_pos;
            (void) ngx_http_fireworks_feed_file(ctx, b, size);
        }
    }
}


/* size bytes of the body's temporary file, a chunk at a time */

static ngx_int_t
ngx_http_fireworks_feed_file(ngx_http_fireworks_ctx_t *ctx, ngx_buf_t *b,
    off_t size)
{
    off_t    offset;
    ssize_t  n;
    u_char   buf[NGX_HTTP_FIREWORKS_INSPECT_CHUNK];

    for (offset = b->file_pos; size > 0; offset += n, size -= n) {

        n = ngx_read_file(b->file, buf,
                          (size_t) ngx_min(size, (off_t) sizeof(buf)),
                          offset);

        if (n <= 0) {
            ctx->scan_done = 1;
            ctx->scan_failed = 1;
            return NGX_ERROR;
        }

        if (ngx_http_fireworks_scan(ctx, buf, n) == NGX_DECLINED) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
