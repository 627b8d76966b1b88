
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * fireworks_metrics: the zone's counts in the Prometheus text exposition
 * format 0.0.4, and under the OpenTelemetry GenAI names with
 * fireworks_metrics_otel.  Reads the zone without its lock: routes and
 * series are linked only when whole and never unlinked, counters are
 * atomics (ngx_http_fireworks_zone.c).
 */


#include "ngx_http_fireworks_module.h"


typedef struct {
    ngx_chain_t                  *out;
    ngx_chain_t                 **last;
    ngx_buf_t                    *b;
    ngx_pool_t                   *pool;
    off_t                         size;
    ngx_str_t                    *otel;        /* its provider, NULL: off */
} ngx_http_fireworks_writer_t;


static ngx_int_t ngx_http_fireworks_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_fireworks_render(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone);
static ngx_int_t ngx_http_fireworks_render_counters(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_zone_t *zone);
static ngx_int_t ngx_http_fireworks_render_requests(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_route_t *route,
    ngx_http_fireworks_series_t *s);
static ngx_int_t ngx_http_fireworks_render_codes(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_zone_t *zone,
    ngx_uint_t family);
static ngx_int_t ngx_http_fireworks_render_gauges(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_zone_t *zone);
static ngx_int_t ngx_http_fireworks_render_histograms(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_zone_t *zone);
static u_char *ngx_http_fireworks_labels(u_char *p,
    ngx_http_fireworks_route_t *route, ngx_http_fireworks_series_t *s);
static u_char *ngx_http_fireworks_escape(u_char *p, u_char *src, size_t len);
static u_char *ngx_http_fireworks_reserve(ngx_http_fireworks_writer_t *w,
    size_t size);
static ngx_int_t ngx_http_fireworks_family(ngx_http_fireworks_writer_t *w,
    char *name, char *type, char *help);

static ngx_int_t ngx_http_fireworks_render_usage(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_zone_t *zone);
static ngx_int_t ngx_http_fireworks_render_tokens(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_route_t *route,
    ngx_http_fireworks_series_t *s);
static ngx_int_t ngx_http_fireworks_render_otel(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_zone_t *zone);
static ngx_int_t ngx_http_fireworks_render_otel_series(
    ngx_http_fireworks_writer_t *w, ngx_http_fireworks_route_t *route,
    ngx_http_fireworks_series_t *s, ngx_uint_t family);
static u_char *ngx_http_fireworks_otel_labels(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_route_t *route, ngx_http_fireworks_series_t *s,
    char *type);
static ngx_int_t ngx_http_fireworks_render_scaled(
    ngx_http_fireworks_writer_t *w, ngx_str_t *name, u_char *labels,
    ngx_http_fireworks_hist_t *h, ngx_msec_t *bounds, ngx_uint_t scale);


static ngx_str_t  ngx_http_fireworks_ra_actions[] = {
    ngx_string("honoured"),
    ngx_string("over_max"),
    ngx_string("ignored")
};


char *
ngx_http_fireworks_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_fireworks_module);
    fmcf->metrics = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_fireworks_metrics_handler;

    return NGX_CONF_OK;
}


/* fireworks_metrics: the Prometheus text exposition format 0.0.4 */

static ngx_int_t
ngx_http_fireworks_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_fireworks_writer_t      w;
    ngx_http_fireworks_loc_conf_t   *flcf;
    ngx_http_fireworks_main_conf_t  *fmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fireworks_module);

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fireworks_module);

    ngx_memzero(&w, sizeof(ngx_http_fireworks_writer_t));
    w.last = &w.out;
    w.pool = r->pool;
    w.otel = flcf->metrics_otel ? &flcf->otel_provider : NULL;

    if (ngx_http_fireworks_render(&w, fmcf->zone->data) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = w.size;
    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w.out);
}


static ngx_int_t
ngx_http_fireworks_render(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone)
{
    u_char       *p;
    ngx_chain_t  *cl;

    if (ngx_http_fireworks_render_counters(w, zone) != NGX_OK
        || ngx_http_fireworks_render_gauges(w, zone) != NGX_OK
        || ngx_http_fireworks_render_histograms(w, zone) != NGX_OK
        || ngx_http_fireworks_render_usage(w, zone) != NGX_OK
        || (w->otel && ngx_http_fireworks_render_otel(w, zone) != NGX_OK)
        || ngx_http_fireworks_family(w, "fireworks_zone_full_total",
               "counter", "Series not counted because the zone was full.")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_fireworks_reserve(w, NGX_ATOMIC_T_LEN + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    w->b->last = ngx_sprintf(p, "fireworks_zone_full_total %uA\n",
                             zone->sh->zone_full);

    w->b->last_buf = 1;
    w->b->last_in_chain = 1;

    for (cl = w->out; cl; cl = cl->next) {
        w->size += cl->buf->last - cl->buf->pos;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_render_counters(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_atomic_uint_t             n;
    ngx_http_fireworks_route_t   *route;
    ngx_http_fireworks_series_t  *s;

    if (ngx_http_fireworks_family(w, "fireworks_requests_total", "counter",
            "Client requests finished, by workload and outcome.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {
            if (ngx_http_fireworks_render_requests(w, route, s) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    if (ngx_http_fireworks_family(w, "fireworks_responses_total", "counter",
            "Final statuses sent to clients.") != NGX_OK
        || ngx_http_fireworks_render_codes(w, zone, 0) != NGX_OK
        || ngx_http_fireworks_family(w, "fireworks_attempts_total", "counter",
               "Attempts, by the API's status or the failure that left "
               "none.") != NGX_OK
        || ngx_http_fireworks_render_codes(w, zone, 1) != NGX_OK
        || ngx_http_fireworks_render_codes(w, zone, 3) != NGX_OK
        || ngx_http_fireworks_family(w, "fireworks_retries_total", "counter",
               "Attempts that were retried, by the status or failure that "
               "caused it.") != NGX_OK
        || ngx_http_fireworks_render_codes(w, zone, 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_fireworks_family(w, "fireworks_retry_after_total", "counter",
            "Retry-After hints: honoured, over fireworks_retry_after_max "
            "(answer forwarded), or ignored (unparsable).") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {
            for (i = 0; i < 3; i++) {

                n = s->retry_after[i];

                if (n == 0) {
                    continue;
                }

                p = ngx_http_fireworks_reserve(w, 2 * (route->len
                                                  + s->model_len) + 128);
                if (p == NULL) {
                    return NGX_ERROR;
                }

                p = ngx_cpymem(p, "fireworks_retry_after_total{",
                               sizeof("fireworks_retry_after_total{") - 1);
                p = ngx_http_fireworks_labels(p, route, s);
                w->b->last = ngx_sprintf(p, ",action=\"%V\"} %uA\n",
                                         &ngx_http_fireworks_ra_actions[i],
                                         n);
            }
        }
    }

    if (ngx_http_fireworks_family(w, "fireworks_backoff_seconds_total",
            "counter", "Time requests spent waiting in backoff.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {

            n = s->backoff;

            p = ngx_http_fireworks_reserve(w, 2 * (route->len + s->model_len)
                                              + 128);
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(p, "fireworks_backoff_seconds_total{",
                           sizeof("fireworks_backoff_seconds_total{") - 1);
            p = ngx_http_fireworks_labels(p, route, s);
            w->b->last = ngx_sprintf(p, "} %uA.%03uA\n",
                                     n / 1000, n % 1000);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_render_requests(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_route_t *route, ngx_http_fireworks_series_t *s)
{
    u_char             *p;
    ngx_str_t          *outcome;
    ngx_uint_t          i, o;
    ngx_atomic_uint_t   n;

    static ngx_str_t  none = ngx_string("none");

    for (i = 0; i < NGX_HTTP_FIREWORKS_WORKLOADS; i++) {
        for (o = 0; o < NGX_HTTP_FIREWORKS_OUTCOMES; o++) {

            n = s->requests[i][o];

            if (n == 0) {
                continue;
            }

            outcome = o ? &ngx_http_fireworks_outcomes[o] : &none;

            p = ngx_http_fireworks_reserve(w, 2 * (route->len + s->model_len)
                                              + 256);
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(p, "fireworks_requests_total{",
                           sizeof("fireworks_requests_total{") - 1);
            p = ngx_http_fireworks_labels(p, route, s);
            w->b->last = ngx_sprintf(p,
                                     ",workload=\"%V\",outcome=\"%V\"} %uA\n",
                                     &ngx_http_fireworks_workloads[i],
                                     outcome, n);
        }
    }

    return NGX_OK;
}


/*
 * responses (0), attempts (1), retries (2), the fallback's attempts (3,
 * in the attempts' family with target="fallback"): by status or failure
 */

static ngx_int_t
ngx_http_fireworks_render_codes(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone, ngx_uint_t family)
{
    u_char                       *p;
    char                         *target;
    ngx_str_t                    *name, *label;
    ngx_uint_t                    i, key;
    ngx_atomic_uint_t             n;
    ngx_http_fireworks_code_t    *codes;
    ngx_http_fireworks_route_t   *route;
    ngx_http_fireworks_series_t  *s;

    static ngx_str_t  names[] = {
        ngx_string("fireworks_responses_total"),
        ngx_string("fireworks_attempts_total"),
        ngx_string("fireworks_retries_total")
    };

    static ngx_str_t  labels[] = {
        ngx_string("code"),
        ngx_string("result"),
        ngx_string("reason")
    };

    target = (family == 3) ? ",target=\"fallback\"" : "";

    if (family == 3) {
        family = 1;
    }

    name = &names[family];
    label = &labels[family];

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {

            codes = (family == 0) ? s->responses
                    : (family == 2) ? s->retries
                    : *target ? s->fallback_attempts : s->attempts;

            for (i = 0; i < NGX_HTTP_FIREWORKS_CODES; i++) {

                key = codes[i].key;
                n = codes[i].value;

                if (key == 0 || n == 0) {
                    continue;
                }

                p = ngx_http_fireworks_reserve(w, 2 * (route->len
                                                  + s->model_len) + 160);
                if (p == NULL) {
                    return NGX_ERROR;
                }

                p = ngx_sprintf(p, "%V{", name);
                p = ngx_http_fireworks_labels(p, route, s);
                p = ngx_sprintf(p, "%s", target);

                if (key > 1000
                    && key - 1000 <= NGX_HTTP_FIREWORKS_KIND_CLIENT_CLOSED)
                {
                    p = ngx_sprintf(p, ",%V=\"%V\"} %uA\n", label,
                                    &ngx_http_fireworks_kinds[key - 1000], n);

                } else {
                    p = ngx_sprintf(p, ",%V=\"%ui\"} %uA\n", label, key, n);
                }

                w->b->last = p;
            }
        }
    }

    return NGX_OK;
}


/* the gauges: the sum of the worker slots */

static ngx_int_t
ngx_http_fireworks_render_gauges(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone)
{
    u_char                      *p;
    ngx_uint_t                   g;
    ngx_atomic_int_t             n;
    ngx_atomic_uint_t            ms, count;
    ngx_http_fireworks_route_t  *route;

    static char  *names[] = {
        "fireworks_waiting", "fireworks_in_flight", "fireworks_gate_held"
    };
    static char  *helps[] = {
        "Requests waiting in backoff or held by the gate now.",
        "Requests between their body's end and their answer's end now.",
        "Requests the gate holds now."
    };

    for (g = 0; g < 3; g++) {

        if (ngx_http_fireworks_family(w, names[g], "gauge", helps[g])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (route = zone->sh->routes; route; route = route->next) {

            n = ngx_http_fireworks_gauge_sum(g == 0 ? route->waiting
                                             : g == 1 ? route->in_flight
                                             : route->held);

            p = ngx_http_fireworks_reserve(w, 2 * route->len + 128);
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_sprintf(p, "%s{", names[g]);
            p = ngx_http_fireworks_labels(p, route, NULL);
            w->b->last = ngx_sprintf(p, "} %A\n", n);
        }
    }

    if (ngx_http_fireworks_family(w, "fireworks_gate_pace", "gauge",
            "Starts per second the gate allows, 0: not pacing.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {

        ms = ngx_http_fireworks_gate_pace(route);

        p = ngx_http_fireworks_reserve(w, 2 * route->len + 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(p, "fireworks_gate_pace{",
                       sizeof("fireworks_gate_pace{") - 1);
        p = ngx_http_fireworks_labels(p, route, NULL);
        w->b->last = ngx_sprintf(p, "} %uA.%03uA\n", ms / 1000, ms % 1000);
    }

    if (ngx_http_fireworks_family(w, "fireworks_gate_closed_seconds_total",
            "counter", "Time the route's gate was closed.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {

        ms = route->gate_closed;

        p = ngx_http_fireworks_reserve(w, 2 * route->len + 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(p, "fireworks_gate_closed_seconds_total{",
                       sizeof("fireworks_gate_closed_seconds_total{") - 1);
        p = ngx_http_fireworks_labels(p, route, NULL);
        w->b->last = ngx_sprintf(p, "} %uA.%03uA\n", ms / 1000, ms % 1000);
    }

    if (ngx_http_fireworks_family(w, "fireworks_fallbacks_total", "counter",
            "Requests that went on to fireworks_fallback, by why the "
            "primary gave up.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (g = 0; g < NGX_HTTP_FIREWORKS_OUTCOMES; g++) {

            count = route->fallbacks[g];

            if (count == 0) {
                continue;
            }

            p = ngx_http_fireworks_reserve(w, 2 * route->len + 128);
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(p, "fireworks_fallbacks_total{",
                           sizeof("fireworks_fallbacks_total{") - 1);
            p = ngx_http_fireworks_labels(p, route, NULL);
            w->b->last = ngx_sprintf(p, ",reason=\"%V\"} %uA\n",
                                     &ngx_http_fireworks_outcomes[g], count);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_render_histograms(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone)
{
    u_char                       *p, *labels;
    ngx_uint_t                    i;
    ngx_http_fireworks_route_t   *route;
    ngx_http_fireworks_series_t  *s;

    static ngx_str_t  duration =
        ngx_string("fireworks_request_duration_seconds");
    static ngx_str_t  header = ngx_string("fireworks_attempt_header_seconds");

    if (ngx_http_fireworks_family(w,
            "fireworks_request_duration_seconds", "histogram",
            "Client request time, all attempts and waits included.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {
            for (i = 0; i < NGX_HTTP_FIREWORKS_WORKLOADS; i++) {

                labels = ngx_pnalloc(w->pool, 2 * (route->len + s->model_len)
                                              + 64);
                if (labels == NULL) {
                    return NGX_ERROR;
                }

                p = ngx_http_fireworks_labels(labels, route, s);
                p = ngx_sprintf(p, ",workload=\"%V\"%Z",
                                &ngx_http_fireworks_workloads[i]);

                if (ngx_http_fireworks_render_scaled(w, &duration, labels,
                        &s->duration[i], ngx_http_fireworks_duration_bounds,
                        1000)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (ngx_http_fireworks_family(w, "fireworks_attempt_header_seconds",
            "histogram", "Per attempt, the time to the API's response "
            "header.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {

            labels = ngx_pnalloc(w->pool, 2 * (route->len + s->model_len)
                                          + 64);
            if (labels == NULL) {
                return NGX_ERROR;
            }

            p = ngx_http_fireworks_labels(labels, route, s);
            *p = '\0';

            if (ngx_http_fireworks_render_scaled(w, &header, labels,
                    &s->header, ngx_http_fireworks_header_bounds, 1000)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * One histogram: the buckets are read once and summed here, so that the
 * count is always the +Inf bucket, however the counts move meanwhile.
 */

static u_char *
ngx_http_fireworks_labels(u_char *p, ngx_http_fireworks_route_t *route,
    ngx_http_fireworks_series_t *s)
{
    p = ngx_cpymem(p, "route=\"", sizeof("route=\"") - 1);
    p = ngx_http_fireworks_escape(p, route->name, route->len);
    *p++ = '"';

    if (s != NULL && s->model_len) {
        p = ngx_cpymem(p, ",model=\"", sizeof(",model=\"") - 1);
        p = ngx_http_fireworks_escape(p, s->model, s->model_len);
        *p++ = '"';
    }

    return p;
}


/* a label value: backslash, double quote and line feed escaped */

static u_char *
ngx_http_fireworks_escape(u_char *p, u_char *src, size_t len)
{
    while (len--) {

        switch (*src) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *src;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *src;
        }

        src++;
    }

    return p;
}


/* room for size more bytes at w->b->last: a new buffer when needed */

static u_char *
ngx_http_fireworks_reserve(ngx_http_fireworks_writer_t *w, size_t size)
{
    ngx_chain_t  *cl;

    if (w->b == NULL || (size_t) (w->b->end - w->b->last) < size) {

        cl = ngx_alloc_chain_link(w->pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = ngx_create_temp_buf(w->pool, ngx_max(size, 16384));
        if (cl->buf == NULL) {
            return NULL;
        }

        cl->next = NULL;
        *w->last = cl;
        w->last = &cl->next;
        w->b = cl->buf;
    }

    return w->b->last;
}


static ngx_int_t
ngx_http_fireworks_family(ngx_http_fireworks_writer_t *w, char *name,
    char *type, char *help)
{
    u_char  *p;

    p = ngx_http_fireworks_reserve(w, 2 * ngx_strlen(name) + ngx_strlen(help)
                                      + ngx_strlen(type) + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    w->b->last = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                             name, help, name, type);

    return NGX_OK;
}


/*
 * The usage metrics (ngx_http_fireworks_usage.c counts them): tokens,
 * time to first token, time per output token.
 */

static ngx_int_t
ngx_http_fireworks_render_usage(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone)
{
    u_char                       *p, *labels;
    ngx_uint_t                    i;
    ngx_http_fireworks_route_t   *route;
    ngx_http_fireworks_series_t  *s;

    static ngx_str_t  names[] = {
        ngx_string("fireworks_time_to_first_token_seconds"),
        ngx_string("fireworks_time_per_output_token_seconds")
    };

    static char  *help[] = {
        "Streams: the time from the request's arrival to the first byte "
        "of its first event.",
        "Streams that told their usage: the time from the first event to "
        "the last, per completion token."
    };

    if (ngx_http_fireworks_family(w, "fireworks_tokens_total", "counter",
            "Tokens the answers told in their usage, by type.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (route = zone->sh->routes; route; route = route->next) {
        for (s = route->series; s; s = s->next) {
            if (ngx_http_fireworks_render_tokens(w, route, s) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    for (i = 0; i < 2; i++) {

        if (ngx_http_fireworks_family(w, (char *) names[i].data,
                                      "histogram", help[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (route = zone->sh->routes; route; route = route->next) {
            for (s = route->series; s; s = s->next) {

                labels = ngx_pnalloc(w->pool, 2 * (route->len + s->model_len)
                                              + 64);
                if (labels == NULL) {
                    return NGX_ERROR;
                }

                p = ngx_http_fireworks_labels(labels, route, s);
                *p = '\0';

                if (ngx_http_fireworks_render_scaled(w, &names[i], labels,
                        i ? &s->tpot : &s->ttft,
                        i ? ngx_http_fireworks_tpot_bounds
                          : ngx_http_fireworks_ttft_bounds,
                        i ? 1000000 : 1000)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_render_tokens(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_route_t *route, ngx_http_fireworks_series_t *s)
{
    u_char             *p;
    size_t              len;
    ngx_uint_t          i;
    ngx_atomic_uint_t   n[3];

    static char  *types[] = { "prompt", "completion", "cached" };

    for (i = 0; i < 3; i++) {
        n[i] = s->tokens[i];
    }

    /* a series whose answers never told a usage has no tokens lines */

    for (i = 0; i < NGX_HTTP_FIREWORKS_BUCKETS; i++) {
        if (s->usage[0].bucket[i]) {
            break;
        }
    }

    if (i == NGX_HTTP_FIREWORKS_BUCKETS) {
        return NGX_OK;
    }

    len = 2 * (route->len + s->model_len) + NGX_ATOMIC_T_LEN + 64;

    p = ngx_http_fireworks_reserve(w, 3 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 3; i++) {
        p = ngx_cpymem(p, "fireworks_tokens_total{",
                       sizeof("fireworks_tokens_total{") - 1);
        p = ngx_http_fireworks_labels(p, route, s);
        p = ngx_sprintf(p, ",type=\"%s\"} %uA\n", types[i], n[i]);
    }

    w->b->last = p;

    return NGX_OK;
}


/*
 * fireworks_metrics_otel: the same data under the OpenTelemetry GenAI
 * semantic conventions' names (v1.41.0, "Development"), as a Prometheus
 * exporter writes them: the token usage, the operation's duration (the
 * request's, all workloads) and the time to the first chunk of streams.
 */

static ngx_int_t
ngx_http_fireworks_render_otel(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_zone_t *zone)
{
    ngx_uint_t                    i;
    ngx_http_fireworks_route_t   *route;
    ngx_http_fireworks_series_t  *s;

    static char  *names[] = {
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_operation_time_to_first_chunk_seconds"
    };

    static char  *help[] = {
        "Number of input and output tokens used.",
        "GenAI operation duration.",
        "Time to receive the first chunk in a streaming response."
    };

    for (i = 0; i < 3; i++) {

        if (ngx_http_fireworks_family(w, names[i], "histogram", help[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (route = zone->sh->routes; route; route = route->next) {
            for (s = route->series; s; s = s->next) {
                if (ngx_http_fireworks_render_otel_series(w, route, s, i)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_render_otel_series(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_route_t *route, ngx_http_fireworks_series_t *s,
    ngx_uint_t family)
{
    u_char                     *labels;
    ngx_uint_t                  i, k;
    ngx_http_fireworks_hist_t   sum;

    static ngx_str_t  names[] = {
        ngx_string("gen_ai_client_token_usage"),
        ngx_string("gen_ai_client_operation_duration_seconds"),
        ngx_string("gen_ai_client_operation_time_to_first_chunk_seconds")
    };

    switch (family) {

    case 0:

        for (i = 0; i < 2; i++) {
            labels = ngx_http_fireworks_otel_labels(w, route, s,
                                                    i ? "output" : "input");
            if (labels == NULL
                || ngx_http_fireworks_render_scaled(w, &names[0], labels,
                       &s->usage[i], ngx_http_fireworks_token_bounds, 1)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;

    case 1:

        /* one histogram of all workloads: the same bounds, summed */

        ngx_memzero(&sum, sizeof(ngx_http_fireworks_hist_t));

        for (i = 0; i < NGX_HTTP_FIREWORKS_WORKLOADS; i++) {
            for (k = 0; k < NGX_HTTP_FIREWORKS_BUCKETS; k++) {
                sum.bucket[k] += s->duration[i].bucket[k];
            }

            sum.sum += s->duration[i].sum;
        }

        labels = ngx_http_fireworks_otel_labels(w, route, s, NULL);
        if (labels == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_fireworks_render_scaled(w, &names[1], labels, &sum,
                   ngx_http_fireworks_duration_bounds, 1000);

    default:

        labels = ngx_http_fireworks_otel_labels(w, route, s, NULL);
        if (labels == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_fireworks_render_scaled(w, &names[2], labels,
                   &s->ttft, ngx_http_fireworks_ttft_bounds, 1000);
    }
}


/* route, and the GenAI attributes; the model where the series has one */

static u_char *
ngx_http_fireworks_otel_labels(ngx_http_fireworks_writer_t *w,
    ngx_http_fireworks_route_t *route, ngx_http_fireworks_series_t *s,
    char *type)
{
    u_char  *labels, *p;

    labels = ngx_pnalloc(w->pool, 2 * (route->len + s->model_len
                                       + w->otel->len) + 160);
    if (labels == NULL) {
        return NULL;
    }

    p = ngx_http_fireworks_labels(labels, route, NULL);

    p = ngx_cpymem(p, ",gen_ai_operation_name=\"chat\","
                      "gen_ai_provider_name=\"",
                   sizeof(",gen_ai_operation_name=\"chat\","
                          "gen_ai_provider_name=\"") - 1);
    p = ngx_http_fireworks_escape(p, w->otel->data, w->otel->len);
    *p++ = '"';

    if (s->model_len) {
        p = ngx_cpymem(p, ",gen_ai_request_model=\"",
                       sizeof(",gen_ai_request_model=\"") - 1);
        p = ngx_http_fireworks_escape(p, s->model, s->model_len);
        *p++ = '"';
    }

    if (type) {
        p = ngx_sprintf(p, ",gen_ai_token_type=\"%s\"", type);
    }

    *p = '\0';

    return labels;
}


/*
 * A histogram: its bounds and sum in units of 1 / scale (1: tokens,
 * 1000: ms, 1000000: us), written in the base unit.
 */

static ngx_int_t
ngx_http_fireworks_render_scaled(ngx_http_fireworks_writer_t *w,
    ngx_str_t *name, u_char *labels, ngx_http_fireworks_hist_t *h,
    ngx_msec_t *bounds, ngx_uint_t scale)
{
    u_char             *p;
    size_t              len;
    ngx_uint_t          i, n;
    ngx_atomic_uint_t   count[NGX_HTTP_FIREWORKS_BUCKETS], total, sum;

    total = 0;

    for (n = 0; bounds[n]; n++) { /* void */ }

    for (i = 0; i <= n; i++) {
        count[i] = h->bucket[i];
        total += count[i];
    }

    if (total == 0) {
        return NGX_OK;
    }

    sum = h->sum;
    len = ngx_strlen(labels);

    p = ngx_http_fireworks_reserve(w, (n + 3) * (name->len + len + 96));
    if (p == NULL) {
        return NGX_ERROR;
    }

    total = 0;

    for (i = 0; i <= n; i++) {
        total += count[i];

        p = ngx_sprintf(p, "%V_bucket{%s,le=\"", name, labels);

        if (bounds[i] == 0) {
            p = ngx_cpymem(p, "+Inf", 4);

        } else if (scale == 1) {
            p = ngx_sprintf(p, "%M", bounds[i]);

        } else if (scale == 1000) {
            p = ngx_sprintf(p, "%M.%03M", bounds[i] / 1000, bounds[i] % 1000);

        } else {
            p = ngx_sprintf(p, "%M.%06M", bounds[i] / 1000000,
                            bounds[i] % 1000000);
        }

        p = ngx_sprintf(p, "\"} %uA\n", total);
    }

    if (scale == 1) {
        p = ngx_sprintf(p, "%V_sum{%s} %uA\n", name, labels, sum);

    } else if (scale == 1000) {
        p = ngx_sprintf(p, "%V_sum{%s} %uA.%03uA\n", name, labels,
                        sum / 1000, sum % 1000);

    } else {
        p = ngx_sprintf(p, "%V_sum{%s} %uA.%06uA\n", name, labels,
                        sum / 1000000, sum % 1000000);
    }

    w->b->last = ngx_sprintf(p, "%V_count{%s} %uA\n", name, labels, total);

    return NGX_OK;
}
