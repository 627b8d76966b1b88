
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * What failed when an attempt got no answer: connection refused or timed
 * out, TLS, reset, timeout, an invalid header.  Once the attempt is over
 * the upstream's connection is gone; its peer's free callback is the
 * last place that sees it.  So the peer callbacks of every upstream{}
 * block (and of the implicit ones proxy_pass makes) are wrapped, as the
 * keepalive module wraps them: decorated, never replaced, and only for
 * the module's own attempts.  Upstreams made at run time (proxy_pass with
 * variables) are not wrapped: the upstream state tells less there.
 */


#include "ngx_http_fireworks_module.h"


typedef struct {
    ngx_http_upstream_srv_conf_t       *upstream;
    ngx_http_upstream_init_peer_pt      init;
} ngx_http_fireworks_peer_conf_t;


typedef struct {
    ngx_http_fireworks_ctx_t           *ctx;
    ngx_http_upstream_t                *u;
    void                               *data;

    ngx_event_get_peer_pt               get;
    ngx_event_free_peer_pt              free;
    ngx_event_notify_peer_pt            notify;

#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt       set_session;
    ngx_event_save_peer_session_pt      save_session;
#endif
} ngx_http_fireworks_peer_data_t;


static ngx_int_t ngx_http_fireworks_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_fireworks_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_fireworks_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_fireworks_notify_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t type);
static ngx_uint_t ngx_http_fireworks_peer_kind(ngx_peer_connection_t *pc,
    ngx_http_upstream_t *u);

#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_fireworks_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_fireworks_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


/*
 * In the module's init_main_conf, which runs after the upstream module's
 * has set every block's peer.init (round robin, hash, keepalive...).
 */

ngx_int_t
ngx_http_fireworks_peer_init_main(ngx_conf_t *cf,
    ngx_http_fireworks_main_conf_t *fmcf)
{
    ngx_uint_t                         i;
    ngx_array_t                       *confs;
    ngx_http_upstream_srv_conf_t     **uscfp;
    ngx_http_fireworks_peer_conf_t    *pcf;
    ngx_http_upstream_main_conf_t     *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    confs = ngx_array_create(cf->pool, umcf->upstreams.nelts + 1,
                             sizeof(ngx_http_fireworks_peer_conf_t));
    if (confs == NULL) {
        return NGX_ERROR;
    }

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->peer.init == NULL) {
            continue;
        }

        pcf = ngx_array_push(confs);
        if (pcf == NULL) {
            return NGX_ERROR;
        }

        pcf->upstream = uscfp[i];
        pcf->init = uscfp[i]->peer.init;

        uscfp[i]->peer.init = ngx_http_fireworks_init_peer;
    }

    fmcf->peers = confs;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                       i;
    ngx_http_upstream_t             *u;
    ngx_http_fireworks_ctx_t        *ctx;
    ngx_http_fireworks_peer_conf_t  *pcf;
    ngx_http_fireworks_peer_data_t  *pd;
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fireworks_module);

    pcf = fmcf->peers->elts;

    for (i = 0; i < fmcf->peers->nelts; i++) {
        if (pcf[i].upstream == us) {
            break;
        }
    }

    if (i == fmcf->peers->nelts || pcf[i].init(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL || ctx->attempt.sr != r) {
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fireworks init peer: attempt %ui", ctx->attempts);

    pd = ngx_palloc(r->pool, sizeof(ngx_http_fireworks_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    u = r->upstream;

    pd->ctx = ctx;
    pd->u = u;
    pd->data = u->peer.data;
    pd->get = u->peer.get;
    pd->free = u->peer.free;
    pd->notify = u->peer.notify;

    u->peer.data = pd;
    u->peer.get = ngx_http_fireworks_get_peer;
    u->peer.free = ngx_http_fireworks_free_peer;

    if (pd->notify) {
        u->peer.notify = ngx_http_fireworks_notify_peer;
    }

#if (NGX_HTTP_SSL)
    pd->set_session = u->peer.set_session;
    pd->save_session = u->peer.save_session;
    u->peer.set_session = ngx_http_fireworks_set_session;
    u->peer.save_session = ngx_http_fireworks_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_fireworks_peer_data_t  *pd = data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "fireworks get peer: attempt %ui", pd->ctx->attempts);

    return pd->get(pc, pd->data);
}


static void
ngx_http_fireworks_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_fireworks_peer_data_t  *pd = data;

    if (state & NGX_PEER_FAILED) {
        pd->ctx->attempt.kind = ngx_http_fireworks_peer_kind(pc, pd->u);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "fireworks free peer: attempt %ui, state %ui, kind %ui",
                   pd->ctx->attempts, state, pd->ctx->attempt.kind);

    pd->free(pc, pd->data, state);
}


static void
ngx_http_fireworks_notify_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type)
{
    ngx_http_fireworks_peer_data_t  *pd = data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "fireworks notify peer: %ui", type);

    pd->notify(pc, pd->data, type);
}


/*
 * A failed peer, before nginx closes its connection: none, or one whose
 * connect did not finish, was refused or timed out; one with a TLS
 * connection that sent no request failed TLS, its handshake or the
 * certificate's check (the TCP connection was tested before TLS); after
 * that, a timer that fired is a timeout, an
 * end or error of the connection a reset, anything else an answer nginx
 * could not parse.
 */

static ngx_uint_t
ngx_http_fireworks_peer_kind(ngx_peer_connection_t *pc, ngx_http_upstream_t *u)
{
    ngx_connection_t  *c;

    c = pc->connection;

    if (c == NULL) {
        return NGX_HTTP_FIREWORKS_KIND_CONNECT_REFUSED;
    }

#if (NGX_HTTP_SSL)
    if (c->ssl
        && (!c->ssl->handshaked
            || u->state == NULL
            || u->state->connect_time == (ngx_msec_t) -1))
    {
        /* the handshake, or the certificate's verification, failed */
        return NGX_HTTP_FIREWORKS_KIND_TLS;
    }
#endif

    if (u->state == NULL || u->state->connect_time == (ngx_msec_t) -1) {
        return c->write->timedout ? NGX_HTTP_FIREWORKS_KIND_CONNECT_TIMEOUT
                                  : NGX_HTTP_FIREWORKS_KIND_CONNECT_REFUSED;
    }

    if (c->read->timedout || c->write->timedout) {
        return NGX_HTTP_FIREWORKS_KIND_TIMEOUT;
    }

    if (c->read->eof || c->read->error || c->write->error
        || u->buffer.start == NULL || u->buffer.last == u->buffer.start)
    {
        return NGX_HTTP_FIREWORKS_KIND_RESET;
    }

    return NGX_HTTP_FIREWORKS_KIND_INVALID_HEADER;
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_fireworks_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_fireworks_peer_data_t  *pd = data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "fireworks set session");

    return pd->set_session(pc, pd->data);
}


static void
ngx_http_fireworks_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_fireworks_peer_data_t  *pd = data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "fireworks save session");

    pd->save_session(pc, pd->data);
}

#endif
