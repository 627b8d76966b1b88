
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Server-sent events, as much as fireworks_hold_header needs: where the
 * first event with data ends, and whether its data is an error object
 * carrying a status ({"error": {"code": 429, ...}}).  Bounded by what is
 * held; like the parsers of ngx_http_fireworks_parse.c it calls no nginx
 * function, so the fuzzers of t/fuzz/ build it standalone.
 */


#include "ngx_http_fireworks_sse.h"


#define NGX_HTTP_FIREWORKS_SSE_DEPTH  32


static u_char *ngx_http_fireworks_sse_line(u_char *p, u_char *last,
    u_char **eol);
static u_char *ngx_http_fireworks_json_member(u_char *p, u_char *last,
    u_char **key, u_char **end);
static u_char *ngx_http_fireworks_json_next(u_char *p, u_char *last,
    ngx_uint_t depth);
static u_char *ngx_http_fireworks_json_ws(u_char *p, u_char *last);
static u_char *ngx_http_fireworks_json_string(u_char *p, u_char *last,
    u_char **start, u_char **end);
static u_char *ngx_http_fireworks_json_skip(u_char *p, u_char *last,
    ngx_uint_t depth);
static ngx_uint_t ngx_http_fireworks_error_status(u_char *p, u_char *last);


/*
 * The first event that has a data field: its end (after the blank line
 * that ends it) and its first data line's value in *data, *data_end.
 * Comments and events without data (keep-alives) are passed over.  NULL
 * while no such event is complete in [p, last).
 */

u_char *
ngx_http_fireworks_sse_event(u_char *p, u_char *last, u_char **data,
    u_char **data_end)
{
    u_char  *line, *eol, *next;

    *data = NULL;

    for (line = p; line < last; line = next) {

        next = ngx_http_fireworks_sse_line(line, last, &eol);

        if (next == NULL) {
            return NULL;
        }

        if (eol == line) {

            /* a blank line ends the event */

            if (*data != NULL) {
                return next;
            }

            continue;
        }

        if (*data == NULL && eol - line >= 5
            && ngx_memcmp(line, "data:", 5) == 0)
        {
            *data = line + 5;

            if (*data < eol && **data == ' ') {
                (*data)++;
            }

            *data_end = eol;
        }
    }

    return NULL;
}


/* one line: its end in *eol, what follows its CR, LF or CR LF returned */

static u_char *
ngx_http_fireworks_sse_line(u_char *p, u_char *last, u_char **eol)
{
    for ( /* void */ ; p < last; p++) {

        if (*p == '\n') {
            *eol = p;
            return p + 1;
        }

        if (*p == '\r') {

            /* a CR at the end may be the first half of a CR LF */

            if (p + 1 == last) {
                return NULL;
            }

            *eol = p;
            return (p[1] == '\n') ? p + 2 : p + 1;
        }
    }

    return NULL;
}


/*
 * The status an event's data reports, 0 for none: a JSON object whose
 * top-level "error" is an object with a numeric "code" or "status" (a
 * number, or a string of digits) from 100 to 599.
 */

ngx_uint_t
ngx_http_fireworks_sse_error(u_char *p, u_char *last)
{
    u_char      *key, *end;
    ngx_uint_t   status;

    p = ngx_http_fireworks_json_ws(p, last);

    if (p == last || *p++ != '{') {
        return 0;
    }

    for ( ;; ) {
        p = ngx_http_fireworks_json_member(p, last, &key, &end);
        if (p == NULL) {
            return 0;
        }

        if (end - key == 5 && ngx_memcmp(key, "error", 5) == 0
            && p < last && *p == '{')
        {
            status = ngx_http_fireworks_error_status(p + 1, last);

            if (status) {
                return status;
            }
        }

        p = ngx_http_fireworks_json_next(p, last, 0);
        if (p == NULL) {
            return 0;
        }
    }
}


/* the members of the error object, after its "{" */

static ngx_uint_t
ngx_http_fireworks_error_status(u_char *p, u_char *last)
{
    u_char      *key, *end, *v;
    ngx_uint_t   n, digits, quoted;

    for ( ;; ) {
        p = ngx_http_fireworks_json_member(p, last, &key, &end);
        if (p == NULL) {
            return 0;
        }

        if ((end - key == 4 && ngx_memcmp(key, "code", 4) == 0)
            || (end - key == 6 && ngx_memcmp(key, "status", 6) == 0))
        {
            quoted = (p < last && *p == '"');
            v = quoted ? p + 1 : p;
            n = 0;

            for (digits = 0; v < last && *v >= '0' && *v <= '9'; v++) {
                n = n * 10 + (*v - '0');

                if (++digits > 3) {
                    break;
                }
            }

            /* exactly three digits, the whole number or the whole string */

            if (digits == 3 && n >= 100 && n <= 599
                && (quoted ? (v < last && *v == '"')
                           : (v == last || *v < '0' || *v > '9')))
            {
                return n;
            }
        }

        p = ngx_http_fireworks_json_next(p, last, 1);
        if (p == NULL) {
            return 0;
        }
    }
}


/*
 * An object's next member, p just after its "{" or a ",": the key's raw
 * bytes in *key, *end, and where the value starts; NULL at the object's
 * end, or at anything that is not a member.
 */

static u_char *
ngx_http_fireworks_json_member(u_char *p, u_char *last, u_char **key,
    u_char **end)
{
    p = ngx_http_fireworks_json_ws(p, last);

    if (p == last || *p == '}') {
        return NULL;
    }

    p = ngx_http_fireworks_json_string(p, last, key, end);
    if (p == NULL) {
        return NULL;
    }

    p = ngx_http_fireworks_json_ws(p, last);

    if (p == last || *p++ != ':') {
        return NULL;
    }

    return ngx_http_fireworks_json_ws(p, last);
}


/* past a member's value and the "," after it; NULL when none follows */

static u_char *
ngx_http_fireworks_json_next(u_char *p, u_char *last, ngx_uint_t depth)
{
    p = ngx_http_fireworks_json_skip(p, last, depth);
    if (p == NULL) {
        return NULL;
    }

    p = ngx_http_fireworks_json_ws(p, last);

    if (p == last || *p != ',') {
        return NULL;
    }

    return p + 1;
}


static u_char *
ngx_http_fireworks_json_ws(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* a string at p: its raw bytes between the quotes, what follows it */

static u_char *
ngx_http_fireworks_json_string(u_char *p, u_char *last, u_char **start,
    u_char **end)
{
    if (p == last || *p != '"') {
        return NULL;
    }

    *start = ++p;

    for ( /* void */ ; p < last; p++) {

        if (*p == '\\') {
            if (++p == last) {
                return NULL;
            }

            continue;
        }

        if (*p == '"') {
            *end = p;
            return p + 1;
        }
    }

    return NULL;
}


/* any value at p, unchecked but for its nesting: what follows it */

static u_char *
ngx_http_fireworks_json_skip(u_char *p, u_char *last, ngx_uint_t depth)
{
    u_char  *s, *e, close;

    if (p == last) {
        return NULL;
    }

    if (*p == '"') {
        return ngx_http_fireworks_json_string(p, last, &s, &e);
    }

    if (*p == '{' || *p == '[') {

        if (depth == NGX_HTTP_FIREWORKS_SSE_DEPTH) {
            return NULL;
        }

        close = (*p == '{') ? '}' : ']';
        p++;

        for ( ;; ) {
            p = ngx_http_fireworks_json_ws(p, last);

            if (p == last) {
                return NULL;
            }

            if (*p == close) {
                return p + 1;
            }

            if (*p == ',' || *p == ':') {
                p++;
                continue;
            }

            p = ngx_http_fireworks_json_skip(p, last, depth + 1);
            if (p == NULL) {
                return NULL;
            }
        }
    }

    /*
     * a number or a literal: at least one byte, or a closing bracket of
     * the wrong kind, as in {"a":{]}, would be skipped as an empty value
     * again and again, and the container's loop would never end
     */

    s = p;

    while (p < last && *p != ',' && *p != '}' && *p != ']'
           && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
    {
        p++;
    }

    return (p == s) ? NULL : p;
}
