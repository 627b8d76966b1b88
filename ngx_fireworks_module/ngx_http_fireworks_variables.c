
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Embedded variables.  All of them read the main request's ctx and change
 * from attempt to attempt, while subrequests share the main request's
 * variable cache: so none is cacheable.
 */


#include "ngx_http_fireworks_module.h"


static ngx_int_t ngx_http_fireworks_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_fireworks_results_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_fireworks_backoff_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_fireworks_outcome_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_fireworks_body_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_fireworks_workload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_fireworks_vars[] = {

    { ngx_string("fireworks_attempt"), NULL,
      ngx_http_fireworks_number_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_attempts"), NULL,
      ngx_http_fireworks_number_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_statuses"), NULL,
      ngx_http_fireworks_results_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_results"), NULL,
      ngx_http_fireworks_results_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_backoff"), NULL,
      ngx_http_fireworks_backoff_variable,
      offsetof(ngx_http_fireworks_ctx_t, waited),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_gate_wait"), NULL,
      ngx_http_fireworks_backoff_variable,
      offsetof(ngx_http_fireworks_ctx_t, gate_wait),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_outcome"), NULL,
      ngx_http_fireworks_outcome_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_workload"), NULL,
      ngx_http_fireworks_workload_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_model"), NULL,
      ngx_http_fireworks_body_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_stream"), NULL,
      ngx_http_fireworks_body_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_str_t  ngx_http_fireworks_outcomes[] = {
    ngx_string(""),
    ngx_string("done"),
    ngx_string("tries"),
    ngx_string("client_closed"),
    ngx_string("deadline"),
    ngx_string("retry_after"),
    ngx_string("shutdown"),
    ngx_string("budget")
};


ngx_int_t
ngx_http_fireworks_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_fireworks_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%ui", ctx->attempts) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/*
 * $fireworks_statuses (data 0): each attempt's status, nginx's own for a
 * failure without one, none for an attempt the client did not wait for;
 * $fireworks_results (data 1): the status, or what failed instead.
 */

static ngx_int_t
ngx_http_fireworks_results_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_http_fireworks_ctx_t     *ctx;
    ngx_http_fireworks_result_t  *res;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL || ctx->results.nelts == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, ctx->results.nelts * (NGX_INT_T_LEN + 16));
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    res = ctx->results.elts;

    for (i = 0; i < ctx->results.nelts; i++) {

        if (data == 0 && res[i].status == 0) {
            continue;
        }

        if (p != v->data) {
            *p++ = ',';
            *p++ = ' ';
        }

        if (data == 1 && res[i].kind) {
            p = ngx_cpymem(p, ngx_http_fireworks_kinds[res[i].kind].data,
                           ngx_http_fireworks_kinds[res[i].kind].len);

        } else {
            p = ngx_sprintf(p, "%ui", (ngx_uint_t) res[i].status);
        }
    }

    if (p == v->data) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_backoff_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_msec_t                 ms;
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* $fireworks_backoff or $fireworks_gate_wait: a ctx field, in ms */

    ms = *(ngx_msec_t *) ((u_char *) ctx + data);

    v->len = ngx_sprintf(p, "%M.%03M", ms / 1000, ms % 1000) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_outcome_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* empty while the attempts run: nothing is decided yet */

    v->len = ngx_http_fireworks_outcomes[ctx->outcome].len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = ngx_http_fireworks_outcomes[ctx->outcome].data;

    return NGX_OK;
}


/*
 * $fireworks_model (data 0) and $fireworks_stream (data 1), from the
 * request body: empty when absent, when the body is no JSON, or before
 * the body has been read.
 */

static ngx_int_t
ngx_http_fireworks_body_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_fireworks_inspect(r, ctx);

    if (data == 0) {
        v->len = ctx->model.len;
        v->data = ctx->model.len ? ctx->model.data : (u_char *) "";

    } else {
        v->len = ctx->stream ? 1 : 0;
        v->data = (u_char *) "1";
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* $fireworks_workload: the workload whose limits the request has */

static ngx_int_t
ngx_http_fireworks_workload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_fireworks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    if (ctx == NULL || !ctx->body_read) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_fireworks_workloads[ctx->workload].len;
    v->data = ngx_http_fireworks_workloads[ctx->workload].data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
