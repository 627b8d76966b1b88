
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * libFuzzer harness of Retry-After and retry-after-ms
 * (ngx_http_fireworks_parse.c).  Each input is a header value:
 *
 *   - retry-after-ms and the number form of Retry-After agree with a
 *     reference written here on strings (digits shifted, leading zeros
 *     stripped, strtoull), not streaming like the parser;
 *   - a Retry-After that is no number is an HTTP-date whose distance
 *     from now it gives, or garbage that ngx_http_fireworks_parse_http_date()
 *     rejects too;
 *   - every delay is at most NGX_HTTP_FIREWORKS_DELAY_CAP.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdarg.h>

#include "ngx_http_fireworks_parse.h"

/* the message libFuzzer's log and t/fuzz/run.sh show, then the crash */

static void
fail(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "fuzz_retry_after: ");
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    abort();
}



static const time_t  nows[] = { 0, 784111777, 1767225600, 4102444800LL };


/* the reference: scale is 3 for seconds, 0 for milliseconds */

static int
ref_delay(const u_char *p, size_t n, ngx_uint_t scale, uint64_t *ms)
{
    char         digits[64];
    size_t       i, dot, len, first;
    uint64_t     v;
    ngx_uint_t   up;

    while (n && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        n--;
    }

    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }

    dot = n;

    for (i = 0; i < n; i++) {
        if (p[i] == '.' && dot == n) {
            dot = i;

        } else if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }

    if (dot == 0 || (dot < n && dot == n - 1) || n == 0) {
        return 0;
    }

    /* the integer digits without leading zeros, then scale fraction digits */

    for (first = 0; first < dot - 1 && p[first] == '0'; first++) {
        /* void */
    }

    len = 0;
    up = 0;

    for (i = first; i < dot; i++) {
        if (len == 20) {
            *ms = NGX_HTTP_FIREWORKS_DELAY_CAP;
            return 1;
        }

        digits[len++] = (char) p[i];
    }

    for (i = 0; i < scale; i++) {
        digits[len++] = (dot + 1 + i < n) ? (char) p[dot + 1 + i] : '0';
    }

    for (i = dot + 1 + scale; i < n; i++) {
        up |= (p[i] != '0');
    }

    digits[len] = '\0';

    if (len > 12) {
        *ms = NGX_HTTP_FIREWORKS_DELAY_CAP;
        return 1;
    }

    v = strtoull(digits, NULL, 10) + up;
    *ms = ngx_min(v, (uint64_t) NGX_HTTP_FIREWORKS_DELAY_CAP);

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p;
    size_t       i, n;
    time_t       t;
    uint64_t     ref, want;
    ngx_int_t    rc, rc_ms;
    ngx_msec_t   ms;

    p = (u_char *) data;

    ms = 0;
    rc_ms = ngx_http_fireworks_parse_retry_after_ms(p, size, &ms);

    if (ref_delay(p, size, 0, &ref)) {
        if (rc_ms != NGX_OK || ms != ref) {
            fail("retry-after-ms: %d %lu, reference %lu\n",
                 (int) rc_ms, (unsigned long) ms, (unsigned long) ref);
        }

    } else if (rc_ms != NGX_DECLINED) {
        fail("retry-after-ms: accepted, reference rejects\n");
    }

    for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        ms = 0;
        rc = ngx_http_fireworks_parse_retry_after(p, size, nows[i], &ms);

        if (rc == NGX_OK && ms > NGX_HTTP_FIREWORKS_DELAY_CAP) {
            fail("Retry-After: %lu over the cap\n", (unsigned long) ms);
        }

        if (ref_delay(p, size, 3, &ref)) {
            if (rc != NGX_OK || ms != ref) {
                fail("Retry-After: %d %lu, reference %lu\n",
                     (int) rc, (unsigned long) ms, (unsigned long) ref);
            }

            continue;
        }

        /* not a number: an HTTP-date, OWS trimmed, or garbage */

        n = size;

        while (n && (data[n - 1] == ' ' || data[n - 1] == '\t')) {
            n--;
        }

        for (p = (u_char *) data; n && (*p == ' ' || *p == '\t'); n--) {
            p++;
        }

        t = ngx_http_fireworks_parse_http_date(p, n, nows[i]);
        p = (u_char *) data;

        if (rc == NGX_DECLINED) {
            if (t != NGX_ERROR) {
                fail("Retry-After: a valid date declined\n");
            }

            continue;
        }

        /* NGX_ERROR here: a valid date before 1970, long past */

        want = 0;

        if (t != NGX_ERROR && t > nows[i]) {
            want = ngx_min((uint64_t) (t - nows[i]) * 1000,
                           (uint64_t) NGX_HTTP_FIREWORKS_DELAY_CAP);
        }

        if (ms != want) {
            fail("Retry-After date: %lu, want %lu\n",
                 (unsigned long) ms, (unsigned long) want);
        }
    }

    return 0;
}
