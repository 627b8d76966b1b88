
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * libFuzzer harness of the first SSE event and its error status
 * (ngx_http_fireworks_sse.c), what fireworks_hold_header reads from the
 * API's stream.  Each input is the bytes held so far:
 *
 *   - the event found ends after a line end, and its data lies within it;
 *   - every prefix of the input gives no event before that end and the
 *     same event after it, as the held bytes grow: only a prefix ending
 *     in the CR of the end's CR LF may still wait;
 *   - the error status of the data, and of the whole input, is that of
 *     a reference written here on the same rules with an explicit stack
 *     instead of recursion, and is 0 or from 100 to 599;
 *   - nothing loops: libFuzzer's -timeout fails an input that hangs.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdarg.h>

#include "ngx_http_fireworks_sse.h"


#define REF_DEPTH  32


static void
fail(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "fuzz_sse: ");
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    abort();
}


static const u_char *
ref_ws(const u_char *p, const u_char *last)
{
    while (p < last && memchr(" \t\r\n", *p, 4) != NULL) {
        p++;
    }

    return p;
}


/* a string's raw bytes: a backslash takes the next byte whatever it is */

static const u_char *
ref_string(const u_char *p, const u_char *last, const u_char **s,
    size_t *len)
{
    const u_char  *q;

    if (p == last || *p != '"') {
        return NULL;
    }

    for (q = p + 1; q < last && *q != '"'; q++) {
        if (*q == '\\' && ++q == last) {
            return NULL;
        }
    }

    if (q == last) {
        return NULL;
    }

    *s = p + 1;
    *len = q - (p + 1);

    return q + 1;
}


/*
 * any value, with an explicit stack of the closing brackets awaited:
 * inside a container ',' and ':' are passed over, anything else is a
 * value; a scalar is a non-empty run up to a delimiter
 */

static const u_char *
ref_skip(const u_char *p, const u_char *last, size_t depth)
{
    u_char         stack[REF_DEPTH];
    size_t         top, len;
    const u_char  *s;

    top = 0;

    for ( ;; ) {
        if (top > 0) {
            p = ref_ws(p, last);

            if (p == last) {
                return NULL;
            }

            if (*p == stack[top - 1]) {
                p++;

                if (--top == 0) {
                    return p;
                }

                continue;
            }

            if (*p == ',' || *p == ':') {
                p++;
                continue;
            }
        }

        if (p == last) {
            return NULL;
        }

        if (*p == '"') {
            p = ref_string(p, last, &s, &len);

        } else if (*p == '{' || *p == '[') {
            if (depth + top == REF_DEPTH) {
                return NULL;
            }

            stack[top++] = (*p == '{') ? '}' : ']';
            p++;
            continue;

        } else {
            s = p;

            while (p < last && memchr(",}] \t\r\n", *p, 7) == NULL) {
                p++;
            }

            if (p == s) {
                return NULL;
            }
        }

        if (p == NULL) {
            return NULL;
        }

        if (top == 0) {
            return p;
        }
    }
}


/* 3 digits, 100 to 599, the whole number or the whole string */

static ngx_uint_t
ref_code(const u_char *p, const u_char *last)
{
    char           buf[8];
    size_t         n;
    ngx_uint_t     quoted;
    const u_char  *q;

    quoted = (p < last && *p == '"');
    q = quoted ? p + 1 : p;

    for (n = 0; q + n < last && n < 4 && q[n] >= '0' && q[n] <= '9'; n++) {
        buf[n] = q[n];
    }

    if (n != 3) {
        return 0;
    }

    if (quoted ? (q + 3 == last || q[3] != '"') : 0) {
        return 0;
    }

    buf[3] = '\0';
    n = strtoul(buf, NULL, 10);

    return (n >= 100 && n <= 599) ? n : 0;
}


/* the members of an object after its '{'; error: the "error" object */

static ngx_uint_t
ref_members(const u_char *p, const u_char *last, ngx_uint_t error)
{
    size_t         len;
    ngx_uint_t     st;
    const u_char  *key;

    for ( ;; ) {
        p = ref_ws(p, last);

        if (p == last || *p == '}') {
            return 0;
        }

        p = ref_string(p, last, &key, &len);

        if (p == NULL) {
            return 0;
        }

        p = ref_ws(p, last);

        if (p == last || *p++ != ':') {
            return 0;
        }

        p = ref_ws(p, last);

        if (error) {
            if ((len == 4 && memcmp(key, "code", 4) == 0)
                || (len == 6 && memcmp(key, "status", 6) == 0))
            {
                st = ref_code(p, last);

                if (st) {
                    return st;
                }
            }

        } else if (len == 5 && memcmp(key, "error", 5) == 0
                   && p < last && *p == '{')
        {
            st = ref_members(p + 1, last, 1);

            if (st) {
                return st;
            }
        }

        p = ref_skip(p, last, error);

        if (p == NULL) {
            return 0;
        }

        p = ref_ws(p, last);

        if (p == last || *p != ',') {
            return 0;
        }

        p++;
    }
}


static ngx_uint_t
ref_error(const u_char *p, const u_char *last)
{
    p = ref_ws(p, last);

    if (p == last || *p != '{') {
        return 0;
    }

    return ref_members(p + 1, last, 0);
}


static void
check_error(u_char *p, u_char *last, const char *what)
{
    ngx_uint_t  st, ref;

    st = ngx_http_fireworks_sse_error(p, last);
    ref = ref_error(p, last);

    if (st != ref) {
        fail("%s: status %lu, reference %lu\n", what, (unsigned long) st,
             (unsigned long) ref);
    }

    if (st != 0 && (st < 100 || st > 599)) {
        fail("%s: status %lu\n", what, (unsigned long) st);
    }
}


/* the first k bytes held: the event of the whole input, or none yet */

static void
check_prefix(u_char *buf, size_t k, u_char *end, u_char *d, u_char *de)
{
    u_char  *ev, *pd, *pde;

    ev = ngx_http_fireworks_sse_event(buf, buf + k, &pd, &pde);

    if (end == NULL || buf + k < end) {
        if (ev != NULL) {
            fail("prefix %zu: an event the input has not\n", k);
        }

    } else if (ev == NULL) {
        if (buf + k != end || end[-1] != '\r') {
            fail("prefix %zu: no event, the input has one\n", k);
        }

    } else if (ev != end || pd != d || pde != de) {
        fail("prefix %zu: another event\n", k);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *buf, *last, *end, *d, *de;
    size_t   k, step;

    /* an allocation of the input's exact size: ASan sees any overread */

    buf = malloc(size ? size : 1);

    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    last = buf + size;

    check_error(buf, last, "whole input");

    d = NULL;
    de = NULL;
    end = ngx_http_fireworks_sse_event(buf, last, &d, &de);

    if (end != NULL) {
        if (end <= buf || end > last
            || (end[-1] != '\n' && end[-1] != '\r'))
        {
            fail("event end at %zu of %zu\n", (size_t) (end - buf), size);
        }

        if (d == NULL || d < buf || de < d || de >= end
            || (*de != '\n' && *de != '\r'))
        {
            fail("data outside the event\n");
        }

        check_error(d, de, "event data");
    }

    /* the held bytes grow: every prefix agrees, sampled when long */

    step = (size > 512) ? size / 256 : 1;

    for (k = 0; k < size; k += step) {
        check_prefix(buf, k, end, d, de);
    }

    check_prefix(buf, size, end, d, de);

    if (end != NULL) {
        for (k = end - buf - 1; k <= (size_t) (end - buf) + 1; k++) {
            if (k <= size) {
                check_prefix(buf, k, end, d, de);
            }
        }
    }

    free(buf);

    return 0;
}
