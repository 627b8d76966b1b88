
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Backoff math and the API's own "retry after" hints.
 */


#include "ngx_http_fireworks_module.h"


static ngx_int_t ngx_http_fireworks_header_delay(ngx_list_t *headers,
    ngx_msec_t *ms);


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
 * accepted) or as an HTTP-date.  NGX_DECLINED when there is none,
 * NGX_ERROR when there is one that cannot be read: the computed backoff
 * applies then.
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
        && ngx_http_fireworks_parse_retry_after_ms(ra_ms->value.data,
                                                   ra_ms->value.len, ms)
           == NGX_OK)
    {
        return NGX_OK;
    }

    if (ra != NULL
        && ngx_http_fireworks_parse_retry_after(ra->value.data, ra->value.len,
                                                ngx_time(), ms)
           == NGX_OK)
    {
        return NGX_OK;
    }

    /* a hint that cannot be read is told from none: it is counted */

    return (ra != NULL || ra_ms != NULL) ? NGX_ERROR : NGX_DECLINED;
}
