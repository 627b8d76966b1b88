
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * libFuzzer harness of the JSON scanner (ngx_http_fireworks_json.c).
 * For each input, as a whole body and as a prefix cut by an inspection
 * limit derived from the input:
 *
 *   - whole, byte by byte and split at points derived from the input,
 *     each piece in its own allocation: the same answers;
 *   - the model is valid UTF-8, at most NGX_HTTP_FIREWORKS_MODEL_MAX;
 *   - the answers equal those of a small recursive parser written here
 *     independently (whole buffer, code points computed, no state
 *     machine): a differential oracle for validity, model and stream.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>

#include "ngx_http_fireworks_json.h"


typedef struct {
    ngx_int_t   feed;
    ngx_int_t   end;
    ngx_uint_t  has_model;
    ngx_uint_t  stream;
    size_t      model_len;
    u_char      model[NGX_HTTP_FIREWORKS_MODEL_MAX];
} result_t;


#define REF_OK    0
#define REF_ERR   1
#define REF_EOF   2           /* the input ended where more was needed */

#define REF_MODEL_BUF   (NGX_HTTP_FIREWORKS_MODEL_MAX + 8)

typedef struct {
    const u_char  *p;
    const u_char  *end;
    ngx_uint_t     depth;
    ngx_uint_t     has_model;
    ngx_uint_t     stream;
    size_t         model_len;
    u_char         model[NGX_HTTP_FIREWORKS_MODEL_MAX];
    u_char         buf[REF_MODEL_BUF];    /* the string being read */
} ref_t;


static int ref_value(ref_t *r, int member);


static u_char  *one;


static void
fail(const char *what, const u_char *data, size_t size, size_t limit)
{
    fprintf(stderr, "fuzz_json: %s (size %zu, limit %zu)\n", what, size,
            limit);
    (void) data;
    abort();
}


static uint64_t
hash(const u_char *p, size_t n)
{
    uint64_t  h;

    h = 1469598103934665603ULL;

    while (n--) {
        h = (h ^ *p++) * 1099511628211ULL;
    }

    return h;
}


/* step: 0 whole, 1 byte by byte, else pieces of pseudo-random sizes */

static void
scan(const u_char *data, size_t size, ngx_uint_t complete, uint64_t step,
    result_t *res)
{
    u_char                     *piece;
    size_t                      off, n;
    uint64_t                    x;
    ngx_int_t                   rc;
    ngx_http_fireworks_json_t   js;

    if (one == NULL) {
        one = malloc(1);
    }

    ngx_http_fireworks_json_init(&js);

    rc = NGX_AGAIN;
    off = 0;
    x = step;

    do {
        if (step == 0) {
            n = size;

        } else if (step == 1) {
            n = ngx_min(1, size - off);

        } else {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            n = (x >> 33) % 17;
            n = (n == 16) ? (x >> 20) % 4096 : n;
            n = ngx_min(n, size - off);
        }

        /*
         * each piece in an allocation of its exact size, so that a read
         * past it is caught; byte by byte reuses one, to stay fast
         */

        piece = (step == 1) ? one : malloc(n ? n : 1);

        if (piece == NULL) {
            abort();
        }

        memcpy(piece, data + off, n);
        rc = ngx_http_fireworks_json_feed(&js, piece, piece + n);

        if (piece != one) {
            free(piece);
        }

        off += n;

    } while (off < size && rc != NGX_DECLINED);

    /* NGX_DECLINED is final, whatever comes after */

    if (rc == NGX_DECLINED
        && (ngx_http_fireworks_json_feed(&js, one, one) != NGX_DECLINED
            || ngx_http_fireworks_json_feed(&js, (u_char *) " {}",
                                            (u_char *) " {}" + 3)
               != NGX_DECLINED))
    {
        fail("feeding after NGX_DECLINED", data, size, complete);
    }

    res->feed = rc;
    res->end = ngx_http_fireworks_json_end(&js, complete);
    res->has_model = js.has_model;
    res->stream = js.stream;
    res->model_len = js.model_len;
    memcpy(res->model, js.model, js.has_model ? js.model_len : 0);
}


static int
same(result_t *a, result_t *b)
{
    return a->end == b->end
           && a->has_model == b->has_model
           && a->stream == b->stream
           && a->feed == b->feed
           && (!a->has_model
               || (a->model_len == b->model_len
                   && memcmp(a->model, b->model, a->model_len) == 0));
}


static int
utf8_valid(const u_char *p, size_t n)
{
    size_t    i, k, need;
    uint32_t  cp;

    for (i = 0; i < n; i += need + 1) {
        if (p[i] < 0x80) {
            need = 0;
            continue;
        }

        need = (p[i] >= 0xf0) ? 3 : (p[i] >= 0xe0) ? 2 : 1;
        cp = p[i] & (0x3f >> need);

        if (p[i] < 0xc0 || p[i] > 0xf7 || i + need >= n) {
            return 0;
        }

        for (k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < (need == 1 ? 0x80u : need == 2 ? 0x800u : 0x10000u)
            || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff))
        {
            return 0;
        }
    }

    return 1;
}


/* --- the reference: recursive descent over the whole buffer ------------ */

static void
ref_ws(ref_t *r)
{
    while (r->p < r->end
           && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n'
               || *r->p == '\r'))
    {
        r->p++;
    }
}


/*
 * Can the bytes of a UTF-8 sequence read so far (lead and got - 1
 * continuation bytes, cp their bits) still become a valid character?
 * The code points reachable form a range; valid ones are those of the
 * sequence's length, minus the surrogates.
 */

static int
ref_utf8_possible(uint32_t cp, ngx_uint_t len, ngx_uint_t got)
{
    uint32_t  lo, hi, min, max;

    static const uint32_t  lows[] = { 0, 0, 0x80, 0x800, 0x10000 };
    static const uint32_t  highs[] = { 0, 0, 0x7ff, 0xffff, 0x10ffff };

    min = cp << (6 * (len - got));
    max = min | ((1u << (6 * (len - got))) - 1);

    lo = ngx_max(min, lows[len]);
    hi = ngx_min(max, highs[len]);

    if (lo > hi) {
        return 0;
    }

    return !(lo >= 0xd800 && hi <= 0xdfff);
}


static void
ref_put(u_char *buf, size_t *len, uint32_t cp)
{
    u_char  tmp[4];
    size_t  n, i;

    if (cp < 0x80) {
        tmp[0] = (u_char) cp;
        n = 1;

    } else if (cp < 0x800) {
        tmp[0] = (u_char) (0xc0 | (cp >> 6));
        tmp[1] = (u_char) (0x80 | (cp & 0x3f));
        n = 2;

    } else if (cp < 0x10000) {
        tmp[0] = (u_char) (0xe0 | (cp >> 12));
        tmp[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (u_char) (0x80 | (cp & 0x3f));
        n = 3;

    } else {
        tmp[0] = (u_char) (0xf0 | (cp >> 18));
        tmp[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (u_char) (0x80 | (cp & 0x3f));
        n = 4;
    }

    for (i = 0; i < n; i++) {
        if (*len < REF_MODEL_BUF) {
            buf[*len] = tmp[i];
        }

        (*len)++;
    }
}


static int
ref_hex4(ref_t *r, uint32_t *cp)
{
    ngx_uint_t  i;
    u_char      c;

    *cp = 0;

    for (i = 0; i < 4; i++) {
        if (r->p == r->end) {
            return REF_EOF;
        }

        c = *r->p++;

        if (c >= '0' && c <= '9') {
            *cp = *cp * 16 + (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            *cp = *cp * 16 + (c - 'a' + 10);

        } else if (c >= 'A' && c <= 'F') {
            *cp = *cp * 16 + (c - 'A' + 10);

        } else {
            return REF_ERR;
        }
    }

    return REF_OK;
}


/* after the opening quote; decodes into buf (REF_MODEL_BUF bytes) */

static int
ref_string(ref_t *r, u_char *buf, size_t *len, ngx_uint_t *lone)
{
    int            rc;
    u_char         c;
    uint32_t       cp, lo;
    ngx_uint_t     n, k;
    const u_char  *save;

    *len = 0;
    *lone = 0;

    for ( ;; ) {
        if (r->p == r->end) {
            return REF_EOF;
        }

        c = *r->p++;

        if (c == '"') {
            return REF_OK;
        }

        if (c < 0x20) {
            return REF_ERR;
        }

        if (c == '\\') {
            if (r->p == r->end) {
                return REF_EOF;
            }

            c = *r->p++;

            switch (c) {
            case '"': case '\\': case '/':
                ref_put(buf, len, c);
                continue;
            case 'b':
                ref_put(buf, len, 8);
                continue;
            case 'f':
                ref_put(buf, len, 12);
                continue;
            case 'n':
                ref_put(buf, len, 10);
                continue;
            case 'r':
                ref_put(buf, len, 13);
                continue;
            case 't':
                ref_put(buf, len, 9);
                continue;
            case 'u':
                break;
            default:
                return REF_ERR;
            }

            rc = ref_hex4(r, &cp);

            if (rc != REF_OK) {
                return rc;
            }

            if (cp >= 0xdc00 && cp <= 0xdfff) {
                *lone = 1;
                continue;
            }

            if (cp < 0xd800 || cp > 0xdbff) {
                ref_put(buf, len, cp);
                continue;
            }

            /* a high surrogate: paired only by an immediate \u low one */

            if (r->end - r->p >= 2 && r->p[0] == '\\' && r->p[1] == 'u') {
                save = r->p;
                r->p += 2;
                rc = ref_hex4(r, &lo);

                if (rc != REF_OK) {
                    return rc;
                }

                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    ref_put(buf, len,
                            0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00));
                    continue;
                }

                r->p = save;      /* read again, as an escape of its own */
            }

            *lone = 1;
            continue;
        }

        if (c < 0x80) {
            ref_put(buf, len, c);
            continue;
        }

        n = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : 2;
        cp = c & (0x7f >> n);

        if (c < 0xc0 || c > 0xf7 || !ref_utf8_possible(cp, n, 1)) {
            return REF_ERR;
        }

        for (k = 1; k < n; k++) {
            if (r->p == r->end) {
                return REF_EOF;
            }

            c = *r->p++;

            if ((c & 0xc0) != 0x80) {
                return REF_ERR;
            }

            cp = (cp << 6) | (c & 0x3f);

            if (!ref_utf8_possible(cp, n, k + 1)) {
                return REF_ERR;
            }
        }

        ref_put(buf, len, cp);
    }
}


static int
ref_number(ref_t *r)
{
    ngx_uint_t  digits;

#define REF_NEED                                                              \
    if (r->p == r->end) {                                                     \
        return REF_EOF;                                                       \
    }

    if (*r->p == '-') {
        r->p++;
        REF_NEED
    }

    if (*r->p == '0') {
        r->p++;

    } else if (*r->p >= '1' && *r->p <= '9') {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            r->p++;
        }

    } else {
        return REF_ERR;
    }

    /* a number may end at the end of the input: the caller decides */

    if (r->p < r->end && *r->p == '.') {
        r->p++;

        for (digits = 0; r->p < r->end && *r->p >= '0' && *r->p <= '9';
             digits++)
        {
            r->p++;
        }

        if (digits == 0) {
            REF_NEED
            return REF_ERR;
        }
    }

    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        REF_NEED

        if (*r->p == '+' || *r->p == '-') {
            r->p++;
        }

        for (digits = 0; r->p < r->end && *r->p >= '0' && *r->p <= '9';
             digits++)
        {
            r->p++;
        }

        if (digits == 0) {
            REF_NEED
            return REF_ERR;
        }
    }

#undef REF_NEED

    return REF_OK;
}


static int
ref_literal(ref_t *r, const char *s)
{
    for ( /* void */ ; *s; s++) {
        if (r->p == r->end) {
            return REF_EOF;
        }

        if (*r->p++ != (u_char) *s) {
            return REF_ERR;
        }
    }

    return REF_OK;
}


/* after '[' or '{' */

static int
ref_container(ref_t *r, int object)
{
    int         rc, member;
    size_t      klen;
    ngx_uint_t  lone;

    if (++r->depth > NGX_HTTP_FIREWORKS_JSON_DEPTH) {
        return REF_ERR;
    }

    ref_ws(r);

    if (r->p == r->end) {
        return REF_EOF;
    }

    if (*r->p == (object ? '}' : ']')) {
        r->p++;
        r->depth--;
        return REF_OK;
    }

    for ( ;; ) {
        member = 0;

        if (object) {
            if (r->p == r->end) {
                return REF_EOF;
            }

            if (*r->p++ != '"') {
                return REF_ERR;
            }

            rc = ref_string(r, r->buf, &klen, &lone);

            if (rc != REF_OK) {
                return rc;
            }

            if (r->depth == 1 && !lone) {
                if (klen == 5 && memcmp(r->buf, "model", 5) == 0) {
                    member = 1;

                } else if (klen == 6 && memcmp(r->buf, "stream", 6) == 0) {
                    member = 2;
                }
            }

            ref_ws(r);

            if (r->p == r->end) {
                return REF_EOF;
            }

            if (*r->p++ != ':') {
                return REF_ERR;
            }

            ref_ws(r);
        }

        rc = ref_value(r, member);

        if (rc != REF_OK) {
            return rc;
        }

        ref_ws(r);

        if (r->p == r->end) {
            return REF_EOF;
        }

        if (*r->p == ',') {
            r->p++;
            ref_ws(r);
            continue;
        }

        if (*r->p++ != (object ? '}' : ']')) {
            return REF_ERR;
        }

        r->depth--;
        return REF_OK;
    }
}


static int
ref_value(ref_t *r, int member)
{
    int         rc;
    size_t      len;
    ngx_uint_t  lone;

    if (r->p == r->end) {
        return REF_EOF;
    }

    /* the value has started: it replaces an earlier duplicate's */

    if (member == 1) {
        r->has_model = 0;
        r->model_len = 0;

    } else if (member == 2) {
        r->stream = 0;
    }

    switch (*r->p) {

    case '"':
        r->p++;
        rc = ref_string(r, r->buf, &len, &lone);

        if (rc == REF_OK && member == 1 && !lone
            && len <= NGX_HTTP_FIREWORKS_MODEL_MAX)
        {
            r->has_model = 1;
            r->model_len = len;
            memcpy(r->model, r->buf, len);
        }

        return rc;

    case '{':
        r->p++;
        return ref_container(r, 1);

    case '[':
        r->p++;
        return ref_container(r, 0);

    case 't':
        rc = ref_literal(r, "true");

        if (rc == REF_OK && member == 2) {
            r->stream = 1;
        }

        return rc;

    case 'f':
        return ref_literal(r, "false");

    case 'n':
        return ref_literal(r, "null");

    default:
        return ref_number(r);
    }
}


/* what the reference says of [data, data + size) */

static void
ref_parse(const u_char *data, size_t size, ngx_uint_t complete,
    result_t *res)
{
    int    rc;
    ref_t  r;

    memset(&r, 0, sizeof(ref_t));
    r.p = data;
    r.end = data + size;

    ref_ws(&r);

    if (r.p == r.end) {
        rc = REF_EOF;

    } else if (*r.p != '{') {
        rc = REF_ERR;

    } else {
        r.p++;
        rc = ref_container(&r, 1);

        if (rc == REF_OK) {
            ref_ws(&r);
            rc = (r.p == r.end) ? REF_OK : REF_ERR;
        }
    }

    /* a number cut at the end of a prefix still reads as a number */

    if (rc == REF_ERR || (rc == REF_EOF && complete)) {
        res->end = NGX_DECLINED;
        res->has_model = 0;
        res->stream = 0;
        return;
    }

    res->end = NGX_OK;
    res->has_model = r.has_model;
    res->stream = r.stream;
    res->model_len = r.model_len;
    memcpy(res->model, r.model, r.model_len);
}


static void
check(const u_char *data, size_t size, ngx_uint_t complete, uint64_t h)
{
    result_t  whole, bytes, pieces, ref;

    scan(data, size, complete, 0, &whole);
    scan(data, size, complete, h | 2, &pieces);

    /* byte by byte costs a call per byte: the random splits do the rest */

    if (size <= 4096) {
        scan(data, size, complete, 1, &bytes);

    } else {
        bytes = pieces;
    }

    if (!same(&whole, &bytes) || !same(&whole, &pieces)) {
        fail("answers differ with the splits", data, size, complete);
    }

    if (whole.end == NGX_OK && whole.has_model
        && (whole.model_len > NGX_HTTP_FIREWORKS_MODEL_MAX
            || !utf8_valid(whole.model, whole.model_len)))
    {
        fail("model is not valid UTF-8 of bounded length", data, size,
             complete);
    }

    if (whole.end != NGX_OK && (whole.has_model || whole.stream)) {
        fail("results left after NGX_DECLINED", data, size, complete);
    }

    ref_parse(data, size, complete, &ref);

    if (ref.end != whole.end
        || ref.has_model != whole.has_model
        || ref.stream != whole.stream
        || (ref.has_model
            && (ref.model_len != whole.model_len
                || memcmp(ref.model, whole.model, ref.model_len) != 0)))
    {
        fprintf(stderr, "scanner: end %d model %d stream %d; "
                "reference: end %d model %d stream %d\n",
                (int) whole.end, (int) whole.has_model, (int) whole.stream,
                (int) ref.end, (int) ref.has_model, (int) ref.stream);
        fail("scanner and reference differ", data, size, complete);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t  h;

    h = hash(data, size);

    check(data, size, 1, h);

    /* the same body cut by an inspection limit */

    if (size) {
        check(data, (size_t) (h % size), 0, h >> 7);
    }

    return 0;
}
