
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Workloads: the presets of Fireworks' production guidance, and the
 * workload each request takes.  The directives (ngx_http_fireworks_
 * module.c) merge the presets into a location's limits at configuration
 * time; the request flow asks for its request's workload here.
 */


#include "ngx_http_fireworks_module.h"


/* the guidance's "recommended client timeout" ranges: low end, high end */

ngx_http_fireworks_limits_t  ngx_http_fireworks_presets[] = {
    { 30000, 30000, 60000 },                  /* interactive */
    { 300000, 300000, 1800000 },              /* agentic */
    { 600000, 600000, 1800000 },              /* long_context */
    { 60000, 60000, 60000 }                   /* batch */
};


ngx_str_t  ngx_http_fireworks_workloads[] = {
    ngx_string("interactive"),
    ngx_string("agentic"),
    ngx_string("long_context"),
    ngx_string("batch"),
    ngx_null_string
};


/*
 * The limits by index, for the loops that merge and choose them as one:
 * each by its offset, as nginx's directive slots find their fields.
 */

size_t  ngx_http_fireworks_limit_offsets[NGX_HTTP_FIREWORKS_LIMITS] = {
    offsetof(ngx_http_fireworks_limits_t, attempt_timeout),
    offsetof(ngx_http_fireworks_limits_t, idle_timeout),
    offsetof(ngx_http_fireworks_limits_t, deadline)
};


/*
 * The request's workload, when a variable names it: the limits that come
 * from the preset follow it.  A value that names no workload is warned
 * about and the location's own workload applies; an empty one silently.
 */

void
ngx_http_fireworks_request_workload(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf)
{
    ngx_str_t   value;
    ngx_uint_t  i, w;

    ctx->workload = flcf->workload;
    ctx->limits = flcf->limits;

    if (flcf->workload_cv == NULL) {
        return;
    }

    if (ngx_http_complex_value(r, flcf->workload_cv, &value) != NGX_OK) {
        return;
    }

    for (w = 0; ngx_http_fireworks_workloads[w].len; w++) {
        if (value.len == ngx_http_fireworks_workloads[w].len
            && ngx_strncmp(value.data, ngx_http_fireworks_workloads[w].data,
                           value.len)
               == 0)
        {
            break;
        }
    }

    if (ngx_http_fireworks_workloads[w].len == 0) {

        if (value.len) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "fireworks: \"%V\" is not a workload, "
                          "\"%V\" applies", &value,
                          &ngx_http_fireworks_workloads[flcf->workload]);
        }

        return;
    }

    ctx->workload = w;

    for (i = 0; i < NGX_HTTP_FIREWORKS_LIMITS; i++) {
        if (flcf->vary_limits & (1 << i)) {
            ngx_http_fireworks_limit(&ctx->limits, i) =
                ngx_http_fireworks_limit(&ngx_http_fireworks_presets[w], i);
        }
    }
}
