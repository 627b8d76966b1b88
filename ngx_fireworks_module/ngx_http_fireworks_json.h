
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * A strict (RFC 8259), streaming, bounded JSON scanner for request
 * bodies: it validates the body and extracts the top-level "model" string
 * (and where it is, for fireworks_fallback to replace it) and whether the
 * top-level "stream" is true, and nothing else.  No
 * allocation, constant memory, O(1) work per byte; like the parsers of
 * ngx_http_fireworks_parse.c it calls no nginx function.
 *
 * Why three JSON readers in the module, not one: each reads other input
 * under other rules, and one reader serving all three would carry the
 * costs of each into the others.
 *
 *   - this one, the client's body: streamed across the buffers nginx
 *     reads, strict (a body that is not valid JSON names no model), with
 *     the model's offsets kept; the validation is most of its work;
 *   - ngx_http_fireworks_sse.c, a held stream's first event: a whole
 *     buffer, walked by recursive descent to a depth of 32, for one
 *     member of one object (the error's status); nothing streams;
 *   - ngx_http_fireworks_usage.c, every answer on the success path:
 *     streamed, lenient (the API's JSON is taken as it comes, nothing is
 *     validated), keys read at three levels only, strings skipped in a
 *     tight loop: the least work per byte, since every byte passes it.
 */


#ifndef _NGX_HTTP_FIREWORKS_JSON_H_INCLUDED_
#define _NGX_HTTP_FIREWORKS_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the longest "model" kept, in bytes of UTF-8; a longer one is absent */
#define NGX_HTTP_FIREWORKS_MODEL_MAX        512

/* arrays and objects open at once; deeper is declined */
#define NGX_HTTP_FIREWORKS_JSON_DEPTH       1024


typedef struct {
    /* results: valid once ngx_http_fireworks_json_end() says so */
    u_char        model[NGX_HTTP_FIREWORKS_MODEL_MAX];
    size_t        model_len;

    /*
     * the last top-level "model" string value, quotes included: its
     * offsets in the input, [value_start, value_end); value_end 0: none
     */
    off_t         value_start;
    off_t         value_end;

    /* private: bit d - 1 is set when container d is an object */
    u_char        stack[NGX_HTTP_FIREWORKS_JSON_DEPTH / 8];
    u_char        key[8];              /* a top-level key, its first bytes */

    off_t         offset;              /* bytes fed before this piece */
    off_t         start;               /* of the model string being read */

    ngx_uint_t    depth;
    ngx_uint_t    state;
    ngx_uint_t    next;                /* state after the string */
    size_t        len;                 /* bytes of the string being kept */
    const u_char *literal;             /* the rest of true, false, null */
    uint32_t      cp;                  /* \uXXXX being read */
    uint32_t      high;                /* high surrogate awaiting its pair */
    ngx_uint_t    hex;                 /* \uXXXX digits still to come */
    ngx_uint_t    utf8;                /* continuation bytes still to come */
    u_char        utf8_lo;             /* range of the next one */
    u_char        utf8_hi;

    unsigned      has_model:1;
    unsigned      stream:1;

    unsigned      keep:2;              /* the string: 1 key, 2 model */
    unsigned      member:2;            /* top-level value: 1 model, 2 stream */
    unsigned      bad:1;               /* the kept string can't be used */
    unsigned      is_true:1;           /* the literal being read is true */
    unsigned      model_end:1;         /* the model string just ended */
} ngx_http_fireworks_json_t;


void ngx_http_fireworks_json_init(ngx_http_fireworks_json_t *js);

/*
 * Feed [p, last).  NGX_AGAIN: wants more; NGX_OK: the whole top-level
 * object was parsed and only whitespace follows so far; NGX_DECLINED: not
 * a JSON object, invalid, or nested deeper than the limit (final).
 */
ngx_int_t ngx_http_fireworks_json_feed(ngx_http_fireworks_json_t *js,
    u_char *p, u_char *last);

/*
 * The input ended: at the body's end (complete = 1) or at the inspection
 * limit (complete = 0).  NGX_OK: has_model, model, model_len and stream
 * may be used; NGX_DECLINED: they may not (and are cleared).
 */
ngx_int_t ngx_http_fireworks_json_end(ngx_http_fireworks_json_t *js,
    ngx_uint_t complete);


#endif /* _NGX_HTTP_FIREWORKS_JSON_H_INCLUDED_ */
