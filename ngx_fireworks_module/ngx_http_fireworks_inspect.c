
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The request body, looked at once: the top-level "model" and "stream"
 * of a JSON body, for $fireworks_model and $fireworks_stream, workloads
 * chosen per model and the metrics' model label.  Only when something
 * asks (a variable is read), only after the body has been read whole,
 * and only its first fireworks_inspect_size bytes: a body in a temporary
 * file is read from the file, that much and no more.  The scanner
 * (ngx_http_fireworks_json.c) is strict and bounded: a body that is not
 * valid JSON leaves both empty, and the body itself is never changed.
 */


#include "ngx_http_fireworks_module.h"


#define NGX_HTTP_FIREWORKS_INSPECT_CHUNK  4096


static ngx_int_t ngx_http_fireworks_feed_file(ngx_http_fireworks_json_t *js,
    ngx_buf_t *b, off_t size);


void
ngx_http_fireworks_inspect(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx)
{
    off_t                           limit, size, n;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_uint_t                      complete;
    ngx_chain_t                    *cl;
    ngx_http_request_body_t        *rb;
    ngx_http_fireworks_json_t       js;
    ngx_http_fireworks_loc_conf_t  *flcf;

    r = r->main;

    /* before the body is whole there is nothing to look at yet */

    if (ctx->inspected || !ctx->body_read) {
        return;
    }

    ctx->inspected = 1;

    rb = r->request_body;
    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    limit = flcf->inspect_size;

    if (rb == NULL || rb->bufs == NULL || limit == 0) {
        return;
    }

    ngx_http_fireworks_json_init(&js);

    rc = NGX_AGAIN;
    complete = 1;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            size = b->last - b->pos;

        } else if (b->in_file) {
            size = b->file_last - b->file_pos;

        } else {
            continue;
        }

        /* past the limit only the part before it is looked at */

        n = ngx_min(size, limit);
        limit -= n;

        if (ngx_buf_in_memory(b)) {
            rc = ngx_http_fireworks_json_feed(&js, b->pos, b->pos + n);

        } else {
            rc = ngx_http_fireworks_feed_file(&js, b, n);
        }

        if (rc == NGX_DECLINED || rc == NGX_ERROR) {
            return;
        }

        if (n < size) {
            complete = 0;
            break;
        }
    }

    if (ngx_http_fireworks_json_end(&js, complete) != NGX_OK) {
        return;
    }

    ctx->stream = js.stream;

    if (!js.has_model || js.model_len == 0) {
        return;
    }

    ctx->model.data = ngx_pnalloc(r->pool, js.model_len);
    if (ctx->model.data == NULL) {
        return;
    }

    ngx_memcpy(ctx->model.data, js.model, js.model_len);
    ctx->model.len = js.model_len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks body: model \"%V\", stream %ui",
                   &ctx->model, (ngx_uint_t) ctx->stream);
}


/* size bytes of the body's temporary file, a chunk at a time */

static ngx_int_t
ngx_http_fireworks_feed_file(ngx_http_fireworks_json_t *js, ngx_buf_t *b,
    off_t size)
{
    off_t      offset;
    ssize_t    n;
    ngx_int_t  rc;
    u_char     buf[NGX_HTTP_FIREWORKS_INSPECT_CHUNK];

    rc = NGX_AGAIN;

    for (offset = b->file_pos; size > 0; offset += n, size -= n) {

        n = ngx_read_file(b->file, buf,
                          (size_t) ngx_min(size, (off_t) sizeof(buf)),
                          offset);

        if (n <= 0) {
            return NGX_ERROR;
        }

        rc = ngx_http_fireworks_json_feed(js, buf, buf + n);

        if (rc == NGX_DECLINED) {
            return rc;
        }
    }

    return rc;
}
