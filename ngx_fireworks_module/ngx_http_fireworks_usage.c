
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * An answer's usage and timing, read as its body passes to the client:
 * nothing buffered, nothing changed.  A JSON answer's top-level "usage"
 * object, or in an event stream the "usage" of any event's data, the last
 * one wins; prompt_tokens, completion_tokens and
 * prompt_tokens_details.cached_tokens are kept.  The scanner keeps a few
 * words per request whatever the answer's size, and looks at each byte
 * once: string contents are skipped in a tight loop, and keys are only
 * read at the three levels that matter, so that a "usage" inside a message
 * counts for nothing.  It does not validate: the API's JSON is taken as
 * it comes, and a broken event's state ends with the event.
 *
 * Only when the zone counts the route or a usage variable is used
 * somewhere in the configuration; an encoded answer (Content-Encoding
 * other than identity) is timed but not read.
 */


#include "ngx_http_fireworks_module.h"


#define NGX_HTTP_FIREWORKS_USAGE_NONE       0
#define NGX_HTTP_FIREWORKS_USAGE_JSON       1
#define NGX_HTTP_FIREWORKS_USAGE_SSE        2

/* SSE lines */
#define NGX_HTTP_FIREWORKS_LINE_START       0
#define NGX_HTTP_FIREWORKS_LINE_DATA        1
#define NGX_HTTP_FIREWORKS_LINE_OTHER       2

/* the keys read, and the bits of pending[] */
#define NGX_HTTP_FIREWORKS_KEY_NONE         0
#define NGX_HTTP_FIREWORKS_KEY_PROMPT       1
#define NGX_HTTP_FIREWORKS_KEY_COMPLETION   2
#define NGX_HTTP_FIREWORKS_KEY_CACHED       3
#define NGX_HTTP_FIREWORKS_KEY_USAGE        4
#define NGX_HTTP_FIREWORKS_KEY_DETAILS      5

/* a count above this is no token count */
#define NGX_HTTP_FIREWORKS_TOKENS_MAX       1000000000000ULL


static ngx_http_fireworks_usage_t *ngx_http_fireworks_usage_start(
    ngx_http_request_t *sr, ngx_http_fireworks_ctx_t *ctx);
static void ngx_http_fireworks_usage_sse(ngx_http_fireworks_usage_t *u,
    u_char *p, u_char *last, ngx_msec_t now);
static void ngx_http_fireworks_usage_json(ngx_http_fireworks_usage_t *u,
    u_char *p, u_char *last);
static ngx_inline u_char *ngx_http_fireworks_usage_quote(u_char *p,
    u_char *last);
static u_char *ngx_http_fireworks_usage_eol(u_char *p, u_char *last);
static u_char *ngx_http_fireworks_usage_skip(ngx_http_fireworks_usage_t *u,
    u_char *p, u_char *last);
static ngx_inline void ngx_http_fireworks_usage_byte(
    ngx_http_fireworks_usage_t *u, u_char ch);
static void ngx_http_fireworks_usage_key(ngx_http_fireworks_usage_t *u);
static u_char ngx_http_fireworks_usage_match(u_char *p, size_t len);
static void ngx_http_fireworks_usage_number(ngx_http_fireworks_usage_t *u);
static void ngx_http_fireworks_usage_reset(ngx_http_fireworks_usage_t *u);
static ngx_msec_t ngx_http_fireworks_usage_now(ngx_http_request_t *r);

static ngx_int_t ngx_http_fireworks_tokens_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_fireworks_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_fireworks_usage_vars[] = {

    { ngx_string("fireworks_prompt_tokens"), NULL,
      ngx_http_fireworks_tokens_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_completion_tokens"), NULL,
      ngx_http_fireworks_tokens_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_ttft"), NULL,
      ngx_http_fireworks_time_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fireworks_generation_time"), NULL,
      ngx_http_fireworks_time_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_fireworks_usage_keys[] = {
    ngx_null_string,
    ngx_string("prompt_tokens"),
    ngx_string("completion_tokens"),
    ngx_string("cached_tokens"),
    ngx_string("usage"),
    ngx_string("prompt_tokens_details")
};


/*
 * Postconfiguration: is a usage variable indexed, by a log_format, a map,
 * a set?  Every use in the configuration is indexed by now, before the
 * first request, where a flag set in a get handler would come too late.
 */

ngx_uint_t
ngx_http_fireworks_usage_used(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_variable_t        *v, *var;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        for (var = ngx_http_fireworks_usage_vars; var->name.len; var++) {
            if (v[i].name.len == var->name.len
                && ngx_strncmp(v[i].name.data, var->name.data,
                               var->name.len)
                   == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


ngx_int_t
ngx_http_fireworks_usage_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_fireworks_usage_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The forwarded answer's buffers, on their way to the client: the
 * attempt's (sr) chain in FORWARD.  Buffers in a file cannot be read
 * here: the usage is then lost, the times are kept.
 */

void
ngx_http_fireworks_usage_feed(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *in)
{
    size_t                       size;
    ngx_buf_t                   *b;
    ngx_msec_t                   now;
    ngx_uint_t                   any;
    ngx_http_fireworks_usage_t  *u;

    u = ctx->usage;

    if (u == NULL) {
        u = ngx_http_fireworks_usage_start(sr, ctx);

        if (u == NULL) {
            return;
        }
    }

    now = ngx_http_fireworks_usage_now(sr->main);
    any = 0;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;
        size = ngx_buf_size(b);

        if (size == 0) {
            continue;
        }

        any = 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "fireworks usage: %uz bytes, at %M ms", size, now);

        if (!ngx_buf_in_memory(b)) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                           "fireworks usage: a buffer in a file, not read");

            u->mode = NGX_HTTP_FIREWORKS_USAGE_NONE;

        } else if (u->mode == NGX_HTTP_FIREWORKS_USAGE_SSE) {
            ngx_http_fireworks_usage_sse(u, b->pos, b->last, now);

        } else if (u->mode == NGX_HTTP_FIREWORKS_USAGE_JSON) {
            ngx_http_fireworks_usage_json(u, b->pos, b->last);
        }
    }

    if (!any) {
        return;
    }

    if (!u->started && u->mode != NGX_HTTP_FIREWORKS_USAGE_SSE) {
        u->started = 1;
        u->first = now;
    }

    if (u->started) {
        u->last = now;
    }
}


static ngx_http_fireworks_usage_t *
ngx_http_fireworks_usage_start(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx)
{
    ngx_http_fireworks_usage_t      *u;
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(sr, ngx_http_fireworks_module);

    if (ctx->route == NULL && !fmcf->usage_vars) {
        return NULL;
    }

    u = ngx_pcalloc(sr->main->pool, sizeof(ngx_http_fireworks_usage_t));
    if (u == NULL) {
        return NULL;
    }

    ctx->usage = u;

    /* the API's own header: a gzip filter of the client's may follow */

    if (ngx_http_fireworks_encoded(sr)) {
        u->mode = NGX_HTTP_FIREWORKS_USAGE_NONE;

    } else if (ctx->attempt.sse) {
        u->mode = NGX_HTTP_FIREWORKS_USAGE_SSE;

    } else {
        u->mode = NGX_HTTP_FIREWORKS_USAGE_JSON;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "fireworks usage: read as %ui (0 none, 1 json, 2 sse)",
                   (ngx_uint_t) u->mode);

    return u;
}


/*
 * An event stream, line by line: each event's data lines are one JSON
 * text, joined by line feeds, read afresh from the event's first data
 * line.  The first byte of the first data line starts the generation.
 */

static void
ngx_http_fireworks_usage_sse(ngx_http_fireworks_usage_t *u, u_char *p,
    u_char *last, ngx_msec_t now)
{
    u_char  *q;

    static u_char  data[] = "data:";

    while (p < last) {

        if (*p == '\n' || *p == '\r') {

            if (*p == '\n' && u->cr) {
                u->cr = 0;
                p++;
                continue;
            }

            u->cr = (*p == '\r');

            if (u->line == NGX_HTTP_FIREWORKS_LINE_START && u->field == 0) {
                u->event = 0;           /* a blank line ends the event */

            } else if (u->line == NGX_HTTP_FIREWORKS_LINE_DATA) {
                ngx_http_fireworks_usage_byte(u, '\n');
            }

            u->line = NGX_HTTP_FIREWORKS_LINE_START;
            u->field = 0;
            p++;
            continue;
        }

        u->cr = 0;

        switch (u->line) {

        case NGX_HTTP_FIREWORKS_LINE_START:

            if (*p != data[u->field]) {
                u->line = NGX_HTTP_FIREWORKS_LINE_OTHER;
                break;
            }

            p++;

            if (++u->field < sizeof(data) - 1) {
                continue;
            }

            u->line = NGX_HTTP_FIREWORKS_LINE_DATA;
            u->space = 1;

            if (!u->event) {
                u->event = 1;
                ngx_http_fireworks_usage_reset(u);
            }

            if (!u->started) {
                u->started = 1;
                u->first = now;
            }

            continue;

        case NGX_HTTP_FIREWORKS_LINE_DATA:

            if (u->space) {
                u->space = 0;

                if (*p == ' ') {
                    p++;
                    continue;
                }
            }

            q = ngx_http_fireworks_usage_eol(p, last);

            ngx_http_fireworks_usage_json(u, p, q);
            p = q;
            continue;

        default: /* NGX_HTTP_FIREWORKS_LINE_OTHER */
            break;
        }

        /* a line of another field, or a comment: skipped */

        while (p < last && *p != '\n' && *p != '\r') {
            p++;
        }
    }
}


/*
 * Keys are read at depth 1 (the top object), 2 (its "usage" object) and
 * 3 (usage's "prompt_tokens_details"), the only containers that are known
 * to be objects; any other container is skipped to its end.
 */

#define ngx_http_fireworks_usage_level(u)                                    \
    (u)->read = ((u)->depth == 1 && (u)->top)                                \
                || ((u)->depth == 2 && (u)->in_usage)                        \
                || ((u)->depth == 3 && (u)->in_details)

/*
 * The first double quote or backslash in [p, last), or last: 8 bytes at a
 * time, each word tested for a byte equal to either at once.
 */

#define NGX_HTTP_FIREWORKS_ONES   0x0101010101010101ULL
#define NGX_HTTP_FIREWORKS_HIGHS  0x8080808080808080ULL

#define ngx_http_fireworks_usage_zero(x)                                     \
    (((x) - NGX_HTTP_FIREWORKS_ONES) & ~(x) & NGX_HTTP_FIREWORKS_HIGHS)

static ngx_inline u_char *
ngx_http_fireworks_usage_quote(u_char *p, u_char *last)
{
    uint64_t  w, q, b;

    while (last - p >= 8) {
        ngx_memcpy(&w, p, 8);

        q = w ^ (NGX_HTTP_FIREWORKS_ONES * '"');
        b = w ^ (NGX_HTTP_FIREWORKS_ONES * '\\');

        if (ngx_http_fireworks_usage_zero(q)
            | ngx_http_fireworks_usage_zero(b))
        {
            break;
        }

        p += 8;
    }

    while (p < last && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


/* a line's end: LF, or a CR alone; memchr() where the lines are long */

static u_char *
ngx_http_fireworks_usage_eol(u_char *p, u_char *last)
{
    u_char  *lf, *cr;

    lf = ngx_strlchr(p, last, '\n');

    if (lf == NULL) {
        lf = last;
    }

    cr = memchr(p, '\r', lf - p);

    return cr ? cr : lf;
}


static void
ngx_http_fireworks_usage_json(ngx_http_fireworks_usage_t *u, u_char *p,
    u_char *last)
{
    u_char  *q;
    size_t   n;

    while (p < last) {

        if (u->str && !u->esc) {

            /* a string's contents up to its end or an escape, at once */

            q = ngx_http_fireworks_usage_quote(p, last);

            if (u->keying && !u->kbad) {
                n = q - p;

                if (u->klen == 0 && q < last && *q == '"') {

                    /* the whole key is here: no copy */

                    u->kid = ngx_http_fireworks_usage_match(p, n);
                    u->keying = 0;
                    u->str = 0;
                    p = q + 1;
                    continue;
                }

                if (u->klen + n <= sizeof(u->key)) {
                    ngx_memcpy(u->key + u->klen, p, n);
                    u->klen += n;

                } else {
                    u->kbad = 1;
                }
            }

            p = q;

            if (p == last) {
                return;
            }

        } else if (!u->str && u->depth && !u->read) {

            p = ngx_http_fireworks_usage_skip(u, p, last);

            if (p == last) {
                return;
            }
        }

        ngx_http_fireworks_usage_byte(u, *p++);
    }
}


/*
 * In a container that is not read (the choices, a message, anything past
 * depth 3) only its end matters: strings and nested containers are
 * skipped in a tight loop, and the container's own closing bracket is
 * left to ngx_http_fireworks_usage_byte().
 */

static u_char *
ngx_http_fireworks_usage_skip(ngx_http_fireworks_usage_t *u, u_char *p,
    u_char *last)
{
    ngx_uint_t  d, depth;

    depth = u->depth;

    for (d = depth; p < last; p++) {

        switch (*p) {

        case '"':

            for (p = ngx_http_fireworks_usage_quote(p + 1, last);
                 p < last && *p == '\\';
                 p = ngx_http_fireworks_usage_quote(p + 2, last))
            {
                if (p + 1 == last) {
                    u->esc = 1;
                    p = last;
                    break;
                }
            }

            if (p == last) {
                u->str = 1;
                u->depth = d;
                ngx_http_fireworks_usage_level(u);
                return p;
            }

            break;

        case '{':
        case '[':
            d++;
            break;

        case '}':
        case ']':

            if (d == depth) {
                return p;
            }

            d--;
            break;
        }
    }

    u->depth = d;
    ngx_http_fireworks_usage_level(u);

    return p;
}


/* a count of the usage object just read: 0 when it had none */

#define ngx_http_fireworks_usage_count(u, key)                               \
    (((u)->have & (1 << (key))) ? (u)->pending[(key) - 1] : 0)


/* one byte of JSON where it is read; a number is taken when it ends */

static ngx_inline void
ngx_http_fireworks_usage_byte(ngx_http_fireworks_usage_t *u, u_char ch)
{
    if (u->str) {

        if (u->esc) {
            u->esc = 0;
            u->kbad = 1;

        } else if (ch == '\\') {
            u->esc = 1;

        } else if (ch == '"') {
            u->str = 0;

            if (u->keying) {
                u->keying = 0;
                ngx_http_fireworks_usage_key(u);
            }

        } else if (u->keying) {

            if (u->klen < sizeof(u->key)) {
                u->key[u->klen++] = ch;

            } else {
                u->kbad = 1;
            }
        }

        return;
    }

    switch (ch) {

    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return;

    case '"':
        u->str = 1;

        if (u->read) {

            if (u->expect_key) {
                u->keying = 1;
                u->kbad = 0;
                u->klen = 0;

            } else {
                u->nbad = 1;            /* a string is no count */
            }
        }

        return;

    case '{':

        if (u->depth == 0) {
            u->top = 1;

        } else if (u->read && !u->expect_key) {

            if (u->depth == 1 && u->kid == NGX_HTTP_FIREWORKS_KEY_USAGE) {
                u->in_usage = 1;
                u->have = 0;

            } else if (u->depth == 2
                       && u->kid == NGX_HTTP_FIREWORKS_KEY_DETAILS)
            {
                u->in_details = 1;
            }
        }

        u->depth++;
        ngx_http_fireworks_usage_level(u);
        u->expect_key = 1;
        u->kid = NGX_HTTP_FIREWORKS_KEY_NONE;
        return;

    case '[':
        u->depth++;
        ngx_http_fireworks_usage_level(u);
        u->expect_key = 0;
        return;

    case '}':
    case ']':

        if (u->read) {
            ngx_http_fireworks_usage_number(u);

            if (u->depth == 2 && ch == '}'
                && (u->have & ((1 << NGX_HTTP_FIREWORKS_KEY_PROMPT)
                               | (1 << NGX_HTTP_FIREWORKS_KEY_COMPLETION))))
            {
                /* the usage object is complete: it is the answer's */

                u->prompt = ngx_http_fireworks_usage_count(u,
                                NGX_HTTP_FIREWORKS_KEY_PROMPT);
                u->completion = ngx_http_fireworks_usage_count(u,
                                NGX_HTTP_FIREWORKS_KEY_COMPLETION);
                u->cached = ngx_http_fireworks_usage_count(u,
                                NGX_HTTP_FIREWORKS_KEY_CACHED);
                u->has_usage = 1;
            }
        }

        if (u->depth) {
            u->depth--;
        }

        if (u->depth < 2) {
            u->in_usage = 0;
        }

        if (u->depth < 3) {
            u->in_details = 0;
        }

        ngx_http_fireworks_usage_level(u);

        u->expect_key = 0;
        u->kid = NGX_HTTP_FIREWORKS_KEY_NONE;
        return;

    case ',':

        if (u->read) {
            ngx_http_fireworks_usage_number(u);
            u->expect_key = 1;
            u->kid = NGX_HTTP_FIREWORKS_KEY_NONE;
        }

        return;

    case ':':

        if (u->read) {
            u->expect_key = 0;
            u->value = 0;
            u->digits = 0;
            u->nbad = 0;
        }

        return;

    default:

        if (!u->read || u->expect_key) {
            return;
        }

        if (ch >= '0' && ch <= '9'
            && u->value <= NGX_HTTP_FIREWORKS_TOKENS_MAX)
        {
            u->value = u->value * 10 + (ch - '0');
            u->digits = 1;

        } else {
            u->nbad = 1;                /* null, a fraction, a sign */
        }
    }
}


static void
ngx_http_fireworks_usage_key(ngx_http_fireworks_usage_t *u)
{
    u->kid = u->kbad ? NGX_HTTP_FIREWORKS_KEY_NONE
                     : ngx_http_fireworks_usage_match(u->key, u->klen);
}


/* the key of [p, p + len), by its length first: most keys differ in it */

static u_char
ngx_http_fireworks_usage_match(u_char *p, size_t len)
{
    ngx_uint_t  i;

    switch (len) {

    case sizeof("usage") - 1:
        i = NGX_HTTP_FIREWORKS_KEY_USAGE;
        break;

    case sizeof("prompt_tokens") - 1:
        i = (p[0] == 'p') ? NGX_HTTP_FIREWORKS_KEY_PROMPT
                          : NGX_HTTP_FIREWORKS_KEY_CACHED;
        break;

    case sizeof("completion_tokens") - 1:
        i = NGX_HTTP_FIREWORKS_KEY_COMPLETION;
        break;

    case sizeof("prompt_tokens_details") - 1:
        i = NGX_HTTP_FIREWORKS_KEY_DETAILS;
        break;

    default:
        return NGX_HTTP_FIREWORKS_KEY_NONE;
    }

    if (ngx_memcmp(p, ngx_http_fireworks_usage_keys[i].data, len) != 0) {
        return NGX_HTTP_FIREWORKS_KEY_NONE;
    }

    return (u_char) i;
}


/* a member ends: its count, if it is one of those kept, where kept */

static void
ngx_http_fireworks_usage_number(ngx_http_fireworks_usage_t *u)
{
    ngx_uint_t  n;

    n = u->kid;

    if (!u->digits || u->nbad || u->value > NGX_HTTP_FIREWORKS_TOKENS_MAX) {
        n = NGX_HTTP_FIREWORKS_KEY_NONE;

    } else if (u->depth == 2) {

        if (n != NGX_HTTP_FIREWORKS_KEY_PROMPT
            && n != NGX_HTTP_FIREWORKS_KEY_COMPLETION)
        {
            n = NGX_HTTP_FIREWORKS_KEY_NONE;
        }

    } else if (u->depth != 3 || n != NGX_HTTP_FIREWORKS_KEY_CACHED) {
        n = NGX_HTTP_FIREWORKS_KEY_NONE;
    }

    if (n != NGX_HTTP_FIREWORKS_KEY_NONE) {
        u->pending[n - 1] = u->value;
        u->have |= 1 << n;
    }

    u->value = 0;
    u->digits = 0;
    u->nbad = 0;
}


/* an event's data starts: a new JSON text */

static void
ngx_http_fireworks_usage_reset(ngx_http_fireworks_usage_t *u)
{
    u->depth = 0;
    u->value = 0;
    u->have = 0;
    u->kid = NGX_HTTP_FIREWORKS_KEY_NONE;
    u->top = 0;
    u->in_usage = 0;
    u->in_details = 0;
    u->read = 0;
    u->expect_key = 0;
    u->str = 0;
    u->esc = 0;
    u->keying = 0;
    u->digits = 0;
    u->nbad = 0;
}


/* ms since the request's arrival, in the clock $request_time uses */

static ngx_msec_t
ngx_http_fireworks_usage_now(ngx_http_request_t *r)
{
    ngx_time_t      *tp;
    ngx_msec_int_t   ms;

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    return (ngx_msec_t) ngx_max(ms, 0);
}


/* $fireworks_prompt_tokens (0), $fireworks_completion_tokens (1) */

static ngx_int_t
ngx_http_fireworks_tokens_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_http_fireworks_ctx_t    *ctx;
    ngx_http_fireworks_usage_t  *u;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->len = 0;
    v->data = (u_char *) "";

    if (ctx == NULL || ctx->usage == NULL || !ctx->usage->has_usage) {
        return NGX_OK;
    }

    u = ctx->usage;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%uL", data ? u->completion : u->prompt) - p;
    v->data = p;

    return NGX_OK;
}


/* $fireworks_ttft (0), $fireworks_generation_time (1): s.ms */

static ngx_int_t
ngx_http_fireworks_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_msec_t                   ms;
    ngx_http_fireworks_ctx_t    *ctx;
    ngx_http_fireworks_usage_t  *u;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_fireworks_module);

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->len = 0;
    v->data = (u_char *) "";

    if (ctx == NULL || ctx->usage == NULL || !ctx->usage->started) {
        return NGX_OK;
    }

    u = ctx->usage;
    ms = data ? u->last - u->first : u->first;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%M.%03M", ms / 1000, ms % 1000) - p;
    v->data = p;

    return NGX_OK;
}
