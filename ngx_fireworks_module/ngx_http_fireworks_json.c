
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * A strict streaming JSON scanner (RFC 8259) for request bodies, fed in
 * pieces split anywhere.  It keeps only the top-level "model" string, its
 * offsets in the body, and whether the top-level "stream" is true; a
 * "model" or "stream" key in a nested object never counts.  The last of
 * duplicate top-level keys wins, as with JSON.parse() and Python's json.
 * Only nginx types and libc macros here, no nginx function: t/fuzz/
 * builds this file standalone.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_fireworks_json.h"

#if (defined __SSE2__ && defined __GNUC__)
#include <emmintrin.h>
#define NGX_HTTP_FIREWORKS_SSE2  1
#endif


enum {
    sw_start = 0,          /* before the top-level object */
    sw_value,              /* a value: after ':', or ',' in an array */
    sw_value_or_end,       /* after '[' */
    sw_key,                /* after ',' in an object */
    sw_key_or_end,         /* after '{' */
    sw_colon,              /* after a key */
    sw_after,              /* after a value: ',' or the container's end */
    sw_string,
    sw_escape,             /* after '\' */
    sw_unicode,            /* in \uXXXX */
    sw_utf8,               /* in a multi-byte UTF-8 sequence */
    sw_literal,            /* in true, false or null */
    sw_minus,
    sw_zero,               /* the integer part is 0 */
    sw_int,
    sw_dot,
    sw_frac,
    sw_exp,                /* after 'e' or 'E' */
    sw_exp_sign,
    sw_exp_digits,
    sw_done,               /* after the top-level object */
    sw_error
};


/* what a kept string is, and what the top-level value being read is */

#define NGX_HTTP_FIREWORKS_JSON_KEEP_KEY     1
#define NGX_HTTP_FIREWORKS_JSON_KEEP_MODEL   2

#define NGX_HTTP_FIREWORKS_JSON_MODEL        1
#define NGX_HTTP_FIREWORKS_JSON_STREAM       2

#define ngx_http_fireworks_json_ws(c)                                         \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

#define ngx_http_fireworks_json_object(js)                                    \
    ((js)->stack[((js)->depth - 1) >> 3] & (1 << (((js)->depth - 1) & 7)))


static ngx_int_t ngx_http_fireworks_json_value(ngx_http_fireworks_json_t *js,
    u_char c);
static ngx_int_t ngx_http_fireworks_json_push(ngx_http_fireworks_json_t *js,
    ngx_uint_t object);
static void ngx_http_fireworks_json_pop(ngx_http_fireworks_json_t *js);
static u_char *ngx_http_fireworks_json_skip(u_char *p, u_char *last);
static size_t ngx_http_fireworks_json_skip_escape(u_char *p, u_char *last);
static ngx_int_t ngx_http_fireworks_json_string(
    ngx_http_fireworks_json_t *js, u_char c);
static ngx_int_t ngx_http_fireworks_json_escape(
    ngx_http_fireworks_json_t *js, u_char c);
static ngx_int_t ngx_http_fireworks_json_unicode(
    ngx_http_fireworks_json_t *js, u_char c);
static void ngx_http_fireworks_json_string_end(
    ngx_http_fireworks_json_t *js);
static ngx_int_t ngx_http_fireworks_json_number(
    ngx_http_fireworks_json_t *js, u_char c);
static void ngx_http_fireworks_json_put(ngx_http_fireworks_json_t *js,
    uint32_t cp);
static ngx_int_t ngx_http_fireworks_json_fail(ngx_http_fireworks_json_t *js);


void
ngx_http_fireworks_json_init(ngx_http_fireworks_json_t *js)
{
    /* the model's bytes need no clearing: model_len guards them */

    ngx_memzero(&js->model_len, sizeof(ngx_http_fireworks_json_t)
                                - offsetof(ngx_http_fireworks_json_t,
                                           model_len));

    js->state = sw_start;
}


ngx_int_t
ngx_http_fireworks_json_feed(ngx_http_fireworks_json_t *js, u_char *p,
    u_char *last)
{
    u_char     c, *first;
    ngx_int_t  rc;

    first = p;

    for ( /* void */ ; p < last; p++) {
        c = *p;

    again:

        switch (js->state) {

        case sw_start:
            if (c == '{') {
                (void) ngx_http_fireworks_json_push(js, 1);
                js->state = sw_key_or_end;
                break;
            }

            /* a top-level array or scalar is no request body of ours */

            if (!ngx_http_fireworks_json_ws(c)) {
                return ngx_http_fireworks_json_fail(js);
            }

            break;

        case sw_value_or_end:
            if (c == ']') {
                ngx_http_fireworks_json_pop(js);
                break;
            }

            /* fall through */

        case sw_value:
            if (ngx_http_fireworks_json_ws(c)) {
                break;
            }

            if (ngx_http_fireworks_json_value(js, c) != NGX_OK) {
                return ngx_http_fireworks_json_fail(js);
            }

            if (js->keep == NGX_HTTP_FIREWORKS_JSON_KEEP_MODEL) {
                js->start = js->offset + (p - first);
            }

            break;

        case sw_key_or_end:
            if (c == '}') {
                ngx_http_fireworks_json_pop(js);
                break;
            }

            /* fall through */

        case sw_key:
            if (c == '"') {
                js->keep = (js->depth == 1)
                           ? NGX_HTTP_FIREWORKS_JSON_KEEP_KEY : 0;
                js->len = 0;
                js->bad = 0;
                js->state = sw_string;
                js->next = sw_colon;
                break;
            }

            if (!ngx_http_fireworks_json_ws(c)) {
                return ngx_http_fireworks_json_fail(js);
            }

            break;

        case sw_colon:
            if (c == ':') {
                js->state = sw_value;
                break;
            }

            if (!ngx_http_fireworks_json_ws(c)) {
                return ngx_http_fireworks_json_fail(js);
            }

            break;

        case sw_after:
            if (c == ',') {
                js->state = ngx_http_fireworks_json_object(js) ? sw_key
                                                               : sw_value;
                break;
            }

            if (c == (ngx_http_fireworks_json_object(js) ? '}' : ']')) {
                ngx_http_fireworks_json_pop(js);
                break;
            }

            if (!ngx_http_fireworks_json_ws(c)) {
                return ngx_http_fireworks_json_fail(js);
            }

            break;

        case sw_string:

            /* most of a body: prompt text nobody keeps, skipped in bulk */

            if (js->keep == 0 && js->high == 0) {
                p = ngx_http_fireworks_json_skip(p, last);

                if (p == last) {
                    js->offset += last - first;
                    return NGX_AGAIN;
                }

                c = *p;
            }

            /* fall through */

        case sw_escape:
        case sw_unicode:
        case sw_utf8:
            if (ngx_http_fireworks_json_string(js, c) != NGX_OK) {
                return ngx_http_fireworks_json_fail(js);
            }

            if (js->model_end) {
                js->model_end = 0;
                js->value_start = js->start;
                js->value_end = js->offset + (p - first) + 1;
            }

            break;

        case sw_literal:
            if (c != *js->literal) {
                return ngx_http_fireworks_json_fail(js);
            }

            if (*++js->literal == '\0') {
                if (js->is_true) {
                    js->stream = 1;
                }

                js->state = sw_after;
            }

            break;

        case sw_done:
            if (!ngx_http_fireworks_json_ws(c)) {
                return ngx_http_fireworks_json_fail(js);
            }

            break;

        case sw_error:
            return NGX_DECLINED;

        default: /* numbers */
            rc = ngx_http_fireworks_json_number(js, c);

            if (rc == NGX_ERROR) {
                return ngx_http_fireworks_json_fail(js);
            }

            if (rc == NGX_DECLINED) {
                /* c ends the number and is the next token's */
                js->state = sw_after;
                goto again;
            }

            break;
        }
    }

    js->offset += last - first;

    if (js->state == sw_error) {
        return NGX_DECLINED;
    }

    return (js->state == sw_done) ? NGX_OK : NGX_AGAIN;
}


ngx_int_t
ngx_http_fireworks_json_end(ngx_http_fireworks_json_t *js,
    ngx_uint_t complete)
{
    if (js->state == sw_done) {
        return NGX_OK;
    }

    /*
     * A valid prefix of a longer body counts: what it holds is what the
     * whole body says, unless a later duplicate key overrides it.
     */

    if (js->state == sw_error || complete) {
        return ngx_http_fireworks_json_fail(js);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_json_value(ngx_http_fireworks_json_t *js, u_char c)
{
    ngx_uint_t  member;

    /*
     * A top-level member's value, even one cut by the inspection limit,
     * overrides what an earlier duplicate key said.
     */

    member = js->member;
    js->member = 0;
    js->is_true = 0;

    if (member == NGX_HTTP_FIREWORKS_JSON_MODEL) {
        js->has_model = 0;
        js->model_len = 0;
        js->value_end = 0;

    } else if (member == NGX_HTTP_FIREWORKS_JSON_STREAM) {
        js->stream = 0;
    }

    switch (c) {

    case '"':
        js->keep = (member == NGX_HTTP_FIREWORKS_JSON_MODEL)
                   ? NGX_HTTP_FIREWORKS_JSON_KEEP_MODEL : 0;
        js->len = 0;
        js->bad = 0;
        js->state = sw_string;
        js->next = sw_after;
        return NGX_OK;

    case '{':
        js->state = sw_key_or_end;
        return ngx_http_fireworks_json_push(js, 1);

    case '[':
        js->state = sw_value_or_end;
        return ngx_http_fireworks_json_push(js, 0);

    case 't':
        js->literal = (u_char *) "rue";
        js->is_true = (member == NGX_HTTP_FIREWORKS_JSON_STREAM);
        js->state = sw_literal;
        return NGX_OK;

    case 'f':
        js->literal = (u_char *) "alse";
        js->state = sw_literal;
        return NGX_OK;

    case 'n':
        js->literal = (u_char *) "ull";
        js->state = sw_literal;
        return NGX_OK;

    case '-':
        js->state = sw_minus;
        return NGX_OK;

    case '0':
        js->state = sw_zero;
        return NGX_OK;
    }

    if (c >= '1' && c <= '9') {
        js->state = sw_int;
        return NGX_OK;
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_fireworks_json_push(ngx_http_fireworks_json_t *js,
    ngx_uint_t object)
{
    u_char  bit;

    if (js->depth == NGX_HTTP_FIREWORKS_JSON_DEPTH) {
        return NGX_ERROR;
    }

    bit = (u_char) (1 << (js->depth & 7));

    if (object) {
        js->stack[js->depth >> 3] |= bit;

    } else {
        js->stack[js->depth >> 3] &= (u_char) ~bit;
    }

    js->depth++;

    return NGX_OK;
}


static void
ngx_http_fireworks_json_pop(ngx_http_fireworks_json_t *js)
{
    js->depth--;
    js->state = (js->depth == 0) ? sw_done : sw_after;
}


/*
 * The plain bytes of a string nobody keeps from p on: printable ASCII but
 * '"', whole valid escapes and whole valid UTF-8 sequences.  It stops at
 * anything else, or at an escape or a sequence split by the piece's end,
 * for ngx_http_fireworks_json_string() to take byte by byte: the same
 * checks, many times faster on text.
 * Eight bytes of plain ASCII, most of a prompt, are told apart at once:
 * a byte of 0x80 or more, one below 0x20, a '"' or a '\' anywhere in a
 * word sets a bit of ngx_http_fireworks_json_special(); the byte-wise
 * loop takes the word that has one.  With SSE2 (every x86-64), sixteen
 * bytes at a time, and straight to the first byte that is not plain.
 */

#define NGX_HTTP_FIREWORKS_ONES   0x0101010101010101ULL
#define NGX_HTTP_FIREWORKS_HIGHS  0x8080808080808080ULL

#define ngx_http_fireworks_json_zero(w)                                       \
    (((w) - NGX_HTTP_FIREWORKS_ONES) & ~(w) & NGX_HTTP_FIREWORKS_HIGHS)

#define ngx_http_fireworks_json_special(w)                                    \
    (((w) & NGX_HTTP_FIREWORKS_HIGHS)                                         \
     | (((w) - NGX_HTTP_FIREWORKS_ONES * 0x20) & ~(w)                         \
        & NGX_HTTP_FIREWORKS_HIGHS)                                           \
     | ngx_http_fireworks_json_zero((w) ^ (NGX_HTTP_FIREWORKS_ONES * '"'))    \
     | ngx_http_fireworks_json_zero((w) ^ (NGX_HTTP_FIREWORKS_ONES * '\\')))


static u_char *
ngx_http_fireworks_json_skip(u_char *p, u_char *last)
{
    u_char    c, *stop;
    size_t    n;
    uint64_t  w;
#if (NGX_HTTP_FIREWORKS_SSE2)
    int       mask;
    __m128i   v;
#endif

    while (p < last) {

        stop = last;

#if (NGX_HTTP_FIREWORKS_SSE2)

        if (last - p >= 16) {
            v = _mm_loadu_si128((const __m128i *) p);

            /* signed: a byte of 0x80 or more is below 0x20 too */

            mask = _mm_movemask_epi8(
                       _mm_or_si128(
                           _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                        _mm_cmpeq_epi8(v,
                                                       _mm_set1_epi8('\\'))),
                           _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));

            if (mask == 0) {
                p += 16;
                continue;
            }

            p += __builtin_ctz(mask);
            stop = p + 1;

            goto bytes;
        }

#endif

        if (last - p >= 8) {
            ngx_memcpy(&w, p, 8);

            if (ngx_http_fireworks_json_special(w) == 0) {
                p += 8;
                continue;
            }

            /* the word that has one is taken byte by byte, then words */

            stop = p + 8;
        }

#if (NGX_HTTP_FIREWORKS_SSE2)
    bytes:
#endif

        while (p < stop) {
            c = *p;

            if (c >= 0x20 && c < 0x80) {
                if (c == '"') {
                    return p;
                }

                if (c == '\\') {
                    n = ngx_http_fireworks_json_skip_escape(p, last);

                    if (n == 0) {
                        return p;
                    }

                    p += n;
                    continue;
                }

                p++;
                continue;
            }

            if (c < 0xc2 || c > 0xf4) {
                return p;
            }

            n = (c < 0xe0) ? 2 : (c < 0xf0) ? 3 : 4;

            if ((size_t) (last - p) < n
                || (p[1] & 0xc0) != 0x80
                || (c == 0xe0 && p[1] < 0xa0)
                || (c == 0xed && p[1] > 0x9f)
                || (c == 0xf0 && p[1] < 0x90)
                || (c == 0xf4 && p[1] > 0x8f)
                || (n > 2 && (p[2] & 0xc0) != 0x80)
                || (n > 3 && (p[3] & 0xc0) != 0x80))
            {
                return p;
            }

            p += n;
        }
    }

    return p;
}


/*
 * A whole escape at p in a string nobody keeps: its length, or 0 for the
 * byte-wise path (an invalid escape, or one split by the piece's end).
 * Any \uXXXX will do: a lone surrogate is valid JSON, and only matters
 * in a string that is kept.
 */

static size_t
ngx_http_fireworks_json_skip_escape(u_char *p, u_char *last)
{
    u_char      c;
    ngx_uint_t  i;

    if (last - p < 2) {
        return 0;
    }

    switch (p[1]) {

    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;

    case 'u':
        if (last - p < 6) {
            return 0;
        }

        for (i = 2; i < 6; i++) {
            c = p[i];

            if (c >= '0' && c <= '9') {
                continue;
            }

            /* "| 0x20" lowers a letter, and only a letter is checked */

            c |= 0x20;

            if (c < 'a' || c > 'f') {
                return 0;
            }
        }

        return 6;
    }

    return 0;
}


/*
 * A byte of a string, UTF-8 checked as RFC 3629 says: no overlong forms,
 * no surrogates, nothing above U+10FFFF.
 */

static ngx_int_t
ngx_http_fireworks_json_string(ngx_http_fireworks_json_t *js, u_char c)
{
    switch (js->state) {

    case sw_escape:
        return ngx_http_fireworks_json_escape(js, c);

    case sw_unicode:
        return ngx_http_fireworks_json_unicode(js, c);

    case sw_utf8:
        if (c < js->utf8_lo || c > js->utf8_hi) {
            return NGX_ERROR;
        }

        js->utf8_lo = 0x80;
        js->utf8_hi = 0xbf;

        if (--js->utf8 == 0) {
            js->state = sw_string;
        }

        break;

    default: /* sw_string */

        if (c == '\\') {
            js->state = sw_escape;
            return NGX_OK;
        }

        /* anything but another \u after a high surrogate leaves it alone */

        if (js->high) {
            js->high = 0;
            js->bad = 1;
        }

        if (c == '"') {
            ngx_http_fireworks_json_string_end(js);
            return NGX_OK;
        }

        if (c < 0x20) {
            return NGX_ERROR;
        }

        if (c < 0x80) {
            break;
        }

        js->utf8_lo = 0x80;
        js->utf8_hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            js->utf8 = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            js->utf8 = 2;

            if (c == 0xe0) {
                js->utf8_lo = 0xa0;

            } else if (c == 0xed) {
                js->utf8_hi = 0x9f;
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            js->utf8 = 3;

            if (c == 0xf0) {
                js->utf8_lo = 0x90;

            } else if (c == 0xf4) {
                js->utf8_hi = 0x8f;
            }

        } else {
            return NGX_ERROR;
        }

        js->state = sw_utf8;
        break;
    }

    /* the byte is the string's own: keep it if needed */

    if (js->keep) {
        ngx_http_fireworks_json_put(js, c);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_json_escape(ngx_http_fireworks_json_t *js, u_char c)
{
    if (c == 'u') {
        js->cp = 0;
        js->hex = 4;
        js->state = sw_unicode;
        return NGX_OK;
    }

    if (js->high) {
        js->high = 0;
        js->bad = 1;
    }

    switch (c) {
    case '"':
    case '\\':
    case '/':
        break;
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    default:
        return NGX_ERROR;
    }

    if (js->keep) {
        ngx_http_fireworks_json_put(js, c);
    }

    js->state = sw_string;

    return NGX_OK;
}


/*
 * \uXXXX: a high surrogate escape followed at once by a low one is one
 * code point, as in JSON.parse() and Python.  Either one alone is valid
 * JSON but no character: a string holding one is not kept.
 */

static ngx_int_t
ngx_http_fireworks_json_unicode(ngx_http_fireworks_json_t *js, u_char c)
{
    uint32_t  cp;

    if (c >= '0' && c <= '9') {
        js->cp = js->cp * 16 + (c - '0');

    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        js->cp = js->cp * 16 + ((c | 0x20) - 'a' + 10);

    } else {
        return NGX_ERROR;
    }

    if (--js->hex) {
        return NGX_OK;
    }

    js->state = sw_string;
    cp = js->cp;

    if (js->high) {
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = 0x10000 + ((js->high - 0xd800) << 10) + (cp - 0xdc00);
            js->high = 0;
            goto put;
        }

        js->high = 0;
        js->bad = 1;
    }

    if (cp >= 0xd800 && cp <= 0xdbff) {
        js->high = cp;
        return NGX_OK;
    }

    if (cp >= 0xdc00 && cp <= 0xdfff) {
        js->bad = 1;
        return NGX_OK;
    }

put:

    if (js->keep == 0) {
        return NGX_OK;
    }

    if (cp < 0x80) {
        ngx_http_fireworks_json_put(js, cp);

    } else if (cp < 0x800) {
        ngx_http_fireworks_json_put(js, 0xc0 | (cp >> 6));
        ngx_http_fireworks_json_put(js, 0x80 | (cp & 0x3f));

    } else if (cp < 0x10000) {
        ngx_http_fireworks_json_put(js, 0xe0 | (cp >> 12));
        ngx_http_fireworks_json_put(js, 0x80 | ((cp >> 6) & 0x3f));
        ngx_http_fireworks_json_put(js, 0x80 | (cp & 0x3f));

    } else {
        ngx_http_fireworks_json_put(js, 0xf0 | (cp >> 18));
        ngx_http_fireworks_json_put(js, 0x80 | ((cp >> 12) & 0x3f));
        ngx_http_fireworks_json_put(js, 0x80 | ((cp >> 6) & 0x3f));
        ngx_http_fireworks_json_put(js, 0x80 | (cp & 0x3f));
    }

    return NGX_OK;
}


static void
ngx_http_fireworks_json_string_end(ngx_http_fireworks_json_t *js)
{
    js->state = js->next;

    if (js->keep == NGX_HTTP_FIREWORKS_JSON_KEEP_KEY) {
        js->member = 0;

        if (js->bad) {
            /* void */

        } else if (js->len == 5 && ngx_memcmp(js->key, "model", 5) == 0) {
            js->member = NGX_HTTP_FIREWORKS_JSON_MODEL;

        } else if (js->len == 6 && ngx_memcmp(js->key, "stream", 6) == 0) {
            js->member = NGX_HTTP_FIREWORKS_JSON_STREAM;
        }

    } else if (js->keep == NGX_HTTP_FIREWORKS_JSON_KEEP_MODEL) {

        /* even a model too long to keep has its place, to be replaced */

        js->model_end = 1;

        if (!js->bad) {
            js->has_model = 1;
            js->model_len = js->len;
        }
    }

    js->keep = 0;
}


/*
 * RFC 8259: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
 * NGX_DECLINED: c is no part of the number, which ended before it.
 */

static ngx_int_t
ngx_http_fireworks_json_number(ngx_http_fireworks_json_t *js, u_char c)
{
    ngx_uint_t  digit;

    digit = (c >= '0' && c <= '9');

    switch (js->state) {

    case sw_minus:
        if (!digit) {
            return NGX_ERROR;
        }

        js->state = (c == '0') ? sw_zero : sw_int;
        return NGX_OK;

    case sw_int:
        if (digit) {
            return NGX_OK;
        }

        /* fall through */

    case sw_zero:
        if (c == '.') {
            js->state = sw_dot;
            return NGX_OK;
        }

        if (c == 'e' || c == 'E') {
            js->state = sw_exp;
            return NGX_OK;
        }

        /* no leading zeros: "01" is an error in the state after a value */

        return NGX_DECLINED;

    case sw_dot:
        if (!digit) {
            return NGX_ERROR;
        }

        js->state = sw_frac;
        return NGX_OK;

    case sw_frac:
        if (digit) {
            return NGX_OK;
        }

        if (c == 'e' || c == 'E') {
            js->state = sw_exp;
            return NGX_OK;
        }

        return NGX_DECLINED;

    case sw_exp:
        if (c == '+' || c == '-') {
            js->state = sw_exp_sign;
            return NGX_OK;
        }

        /* fall through */

    case sw_exp_sign:
        if (!digit) {
            return NGX_ERROR;
        }

        js->state = sw_exp_digits;
        return NGX_OK;

    default: /* sw_exp_digits */
        return digit ? NGX_OK : NGX_DECLINED;
    }
}


/* one byte of a kept key or model: too long to keep makes it unusable */

static void
ngx_http_fireworks_json_put(ngx_http_fireworks_json_t *js, uint32_t cp)
{
    if (js->keep == NGX_HTTP_FIREWORKS_JSON_KEEP_KEY) {
        if (js->len < sizeof(js->key)) {
            js->key[js->len] = (u_char) cp;
        }

        js->len++;
        return;
    }

    if (js->len == NGX_HTTP_FIREWORKS_MODEL_MAX) {
        js->bad = 1;
        return;
    }

    js->model[js->len++] = (u_char) cp;
}


static ngx_int_t
ngx_http_fireworks_json_fail(ngx_http_fireworks_json_t *js)
{
    js->state = sw_error;
    js->has_model = 0;
    js->model_len = 0;
    js->value_end = 0;
    js->stream = 0;

    return NGX_DECLINED;
}
