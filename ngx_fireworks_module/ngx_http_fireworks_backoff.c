
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Backoff math and the API's own "retry after" hints.
 */


#include "ngx_http_fireworks_module.h"


static ngx_int_t ngx_http_fireworks_header_delay(ngx_list_t *headers,
    ngx_msec_t *ms);
static ngx_int_t ngx_http_fireworks_parse_delay(u_char *p, size_t len,
    ngx_uint_t scale, ngx_msec_t *ms);


/*
 * The wait before retry k (k = 1 for the first retry):
 * min(base * 2^(k-1), max) plus U(0, jitter), or U(0, that) with full
 * jitter.  Doubling stops at max, so nothing overflows.
 */

ngx_msec_t
ngx_http_fireworks_backoff(ngx_http_fireworks_loc_conf_t *flcf,
    ngx_uint_t retry)
{
    ngx_msec_t  exp;
    ngx_uint_t  k;

    exp = flcf->backoff_base;

    for (k = 1; k < retry && exp < flcf->backoff_max; k++) {
        exp = (exp > flcf->backoff_max / 2) ? flcf->backoff_max : exp * 2;
    }

    exp = ngx_min(exp, flcf->backoff_max);

    if (flcf->jitter_full) {
        return (ngx_msec_t) ngx_random() % (exp + 1);
    }

    return exp + ngx_http_fireworks_jitter(flcf);
}


ngx_msec_t
ngx_http_fireworks_jitter(ngx_http_fireworks_loc_conf_t *flcf)
{
    if (flcf->jitter == 0) {
        return 0;
    }

    return (ngx_msec_t) ngx_random() % (flcf->jitter + 1);
}


/*
 * The wait the attempt's answer asks for: "retry-after-ms" first, as the
 * OpenAI SDKs read it, then "Retry-After" in delta-seconds (decimals
 * accepted) or as an HTTP-date.  NGX_DECLINED when there is none or it
 * cannot be trusted: the computed backoff applies then.
 */

ngx_int_t
ngx_http_fireworks_retry_after(ngx_http_request_t *sr, ngx_msec_t *ms)
{
    ngx_list_t  *headers;

    /* what the upstream sent, even if proxy_hide_header hides it */

    headers = (sr->upstream != NULL) ? &sr->upstream->headers_in.headers
                                     : &sr->headers_out.headers;

    return ngx_http_fireworks_header_delay(headers, ms);
}


static ngx_int_t
ngx_http_fireworks_header_delay(ngx_list_t *headers, ngx_msec_t *ms)
{
    time_t            date;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *ra, *ra_ms;

    ra = NULL;
    ra_ms = NULL;

    part = &headers->part;
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

        if (h[i].hash == 0) {
            continue;
        }

        if (h[i].key.len == sizeof("Retry-After") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               h[i].key.len)
               == 0)
        {
            ra = &h[i];

        } else if (h[i].key.len == sizeof("retry-after-ms") - 1
                   && ngx_strncasecmp(h[i].key.data,
                                      (u_char *) "retry-after-ms",
                                      h[i].key.len)
                      == 0)
        {
            ra_ms = &h[i];
        }
    }

    if (ra_ms != NULL
        && ngx_http_fireworks_parse_delay(ra_ms->value.data, ra_ms->value.len,
                                          1, ms)
           == NGX_OK)
    {
        return NGX_OK;
    }

    if (ra == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_fireworks_parse_delay(ra->value.data, ra->value.len, 1000,
                                       ms)
        == NGX_OK)
    {
        return NGX_OK;
    }

    date = ngx_parse_http_time(ra->value.data, ra->value.len);

    if (date == NGX_ERROR) {
        return NGX_DECLINED;
    }

    /* a date already past means "now" */

    date -= ngx_time();

    if (date <= 0) {
        *ms = 0;
        return NGX_OK;
    }

    if (date > NGX_HTTP_FIREWORKS_RA_LIMIT) {
        return NGX_DECLINED;
    }

    *ms = (ngx_msec_t) date * 1000;

    return NGX_OK;
}


/*
 * A non-negative decimal number of units (1 for milliseconds, 1000 for
 * seconds) with optional fraction, rounded up to a millisecond.  Signs,
 * exponents, garbage and values past NGX_HTTP_FIREWORKS_RA_LIMIT fail.
 */

static ngx_int_t
ngx_http_fireworks_parse_delay(u_char *p, size_t len, ngx_uint_t scale,
    ngx_msec_t *ms)
{
    u_char      *last;
    uint64_t     n, frac, div;
    ngx_uint_t   digits;

    last = p + len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    n = 0;
    digits = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        n = n * 10 + (*p++ - '0');

        if (n > NGX_HTTP_FIREWORKS_RA_LIMIT) {
            return NGX_DECLINED;
        }

        digits++;
    }

    frac = 0;
    div = 1;

    if (p < last && *p == '.') {
        p++;

        while (p < last && *p >= '0' && *p <= '9') {
            if (div < 1000000) {
                frac = frac * 10 + (*p - '0');
                div *= 10;
            }

            p++;
            digits++;
        }
    }

    if (p != last || digits == 0) {
        return NGX_DECLINED;
    }

    n = n * scale + (frac * scale + div - 1) / div;

    if (n > (uint64_t) NGX_HTTP_FIREWORKS_RA_LIMIT * 1000) {
        return NGX_DECLINED;
    }

    *ms = (ngx_msec_t) n;

    return NGX_OK;
}
