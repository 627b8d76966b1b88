
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * libFuzzer harness of the directives' arguments: the handlers of
 * ngx_http_fireworks_commands[], called as nginx's configuration parser
 * calls them, on a location configuration of the module's own making.
 * Each input is directives, one per line: a byte choosing the directive,
 * then its arguments separated by spaces (any other byte, NUL included,
 * can be in an argument, as in nginx.conf).  For each:
 *
 *   - the handler accepts exactly what the documented grammar accepts
 *     (docs/directives.md), written here again: the numbers and their
 *     ranges, the names of each enumeration, "off" and "full" spelled
 *     exactly, nginx's durations (ngx_parse_time()) up to 24h and sizes
 *     (ngx_parse_size()) up to 16m;
 *   - what it stored is the value the grammar gives;
 *   - a refusal is an error that names the directive and the value, as
 *     "nginx -t" prints it, and nothing is logged on success;
 *   - a directive given twice is refused as a duplicate.
 *
 * fireworks_pass, fireworks_metrics and fireworks_zone need an http
 * block around them, and a value with variables needs nginx's variables:
 * those are left to t/10-config.t.  The harness links nginx's own objects
 * (t/fuzz/run.sh finds a tree built by ./build.sh).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdio.h>
#include <stdarg.h>

#include "ngx_http_fireworks_module.h"


#define ARGS       8
#define LOG_SIZE   4096
#define MAX_MSEC   86400000
#define MAX_SIZE   (16 * 1024 * 1024)


typedef struct {
    ngx_str_t    arg[ARGS];
    ngx_uint_t   n;
} args_t;


static ngx_log_t    fuzz_log;
static u_char       logged[LOG_SIZE];
static size_t       logged_len;
static ngx_uint_t   logged_n;


static void
fail(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "fuzz_conf: ");
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nlogged: %.*s\n", (int) logged_len, logged);
    abort();
}


static void
writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    len = ngx_min(len, LOG_SIZE - logged_len);
    memcpy(logged + logged_len, buf, len);
    logged_len += len;
    logged_n++;
}


/* ----- the grammar, written again -------------------------------------- */


static int
is(ngx_str_t *s, const char *word)
{
    return s->len == strlen(word) && memcmp(s->data, word, s->len) == 0;
}


/* digits only, at least one; saturates past max */

static int
ref_number(u_char *p, size_t len, uint64_t max, uint64_t *n)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    *n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }

        if (*n <= max) {
            *n = *n * 10 + (p[i] - '0');
        }
    }

    return 1;
}


/*
 * nginx's own syntaxes of durations and sizes are nginx's parsers:
 * the module adds its bounds, which are checked here
 */

static int
ref_time(ngx_str_t *s, uint64_t *ms)
{
    ngx_int_t  n;

    n = ngx_parse_time(s, 0);

    if (n == NGX_ERROR) {
        return 0;
    }

    *ms = n;
    return 1;
}


static int
ref_size(ngx_str_t *s, uint64_t *size)
{
    ssize_t  n;

    n = ngx_parse_size(s);

    if (n == NGX_ERROR) {
        return 0;
    }

    *size = n;
    return 1;
}


/* nginx's flag slot compares as C strings, ignoring case */

static int
ref_flag(ngx_str_t *s, ngx_flag_t *f)
{
    if (strcasecmp((char *) s->data, "on") == 0) {
        *f = 1;
        return 1;
    }

    if (strcasecmp((char *) s->data, "off") == 0) {
        *f = 0;
        return 1;
    }

    return 0;
}


/* ----- one directive ---------------------------------------------------- */


static ngx_uint_t
count_ok(ngx_command_t *cmd, ngx_uint_t n)
{
    static const ngx_uint_t  take[] = {
        NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_CONF_TAKE2, NGX_CONF_TAKE3,
        NGX_CONF_TAKE4, NGX_CONF_TAKE5, NGX_CONF_TAKE6, NGX_CONF_TAKE7
    };

    if (cmd->type & NGX_CONF_FLAG) {
        return n == 1;
    }

    if (cmd->type & NGX_CONF_1MORE) {
        return n >= 1;
    }

    if (cmd->type & NGX_CONF_2MORE) {
        return n >= 2;
    }

    return n < 8 && (cmd->type & take[n]);
}


/*
 * What the grammar says of ARGS for the directive NAME: 1 and the values
 * checked against CONF, or 0.
 */

static int
grammar(ngx_str_t *name, args_t *a, ngx_http_fireworks_loc_conf_t *conf,
    int check)
{
    ngx_str_t   *v;
    ngx_uint_t   i, *s;
    ngx_flag_t   f;
    uint64_t     n, m;

    v = &a->arg[1];

#define want(cond)                                                           \
    if (check && !(cond)) {                                                  \
        fail("%.*s: stored value differs (%s)", (int) name->len,            \
             name->data, #cond);                                             \
    }

    if (is(name, "fireworks_tries")) {
        if (!ref_number(v->data, v->len, 1000, &n) || n < 1 || n > 100) {
            return 0;
        }

        want((uint64_t) conf->tries == n);
        return 1;
    }

    if (is(name, "fireworks_retry_on")) {
        for (i = 1; i < a->n; i++) {
            if (!ref_number(a->arg[i].data, a->arg[i].len, 1000, &n)
                || n < 300 || n > 599)
            {
                return 0;
            }
        }

        if (check) {
            want(conf->retry_on->nelts == a->n - 1);
            s = conf->retry_on->elts;

            for (i = 1; i < a->n; i++) {
                ref_number(a->arg[i].data, a->arg[i].len, 1000, &n);
                want(s[i - 1] == n);
            }
        }

        return 1;
    }

    if (is(name, "fireworks_backoff")) {
        if (!ref_time(v, &n) || n > MAX_MSEC) {
            return 0;
        }

        if (a->n == 3) {
            if (!ref_time(&a->arg[2], &m) || m > MAX_MSEC || m < n) {
                return 0;
            }

            want(conf->backoff_max == m);
        }

        want(conf->backoff_base == n);
        return 1;
    }

    if (is(name, "fireworks_jitter")) {
        if (is(v, "full")) {
            want(conf->jitter_full == 1 && conf->jitter == 0);
            return 1;
        }

        if (!ref_time(v, &n) || n > MAX_MSEC) {
            return 0;
        }

        want(conf->jitter == n && conf->jitter_full == 0);
        return 1;
    }

    if (is(name, "fireworks_workload")) {
        static const char  *w[] = {
            "interactive", "agentic", "long_context", "batch"
        };

        for (i = 0; i < 4; i++) {
            if (is(v, w[i])) {
                want(conf->workload == i);
                return 1;
            }
        }

        return 0;
    }

    if (is(name, "fireworks_deadline")
        || is(name, "fireworks_attempt_timeout")
        || is(name, "fireworks_idle_timeout")
        || is(name, "fireworks_retry_after_max"))
    {
        if (!ref_time(v, &n) || n > MAX_MSEC) {
            return 0;
        }

        want((is(name, "fireworks_deadline") ? conf->limits.deadline
              : is(name, "fireworks_attempt_timeout")
                ? conf->limits.attempt_timeout
              : is(name, "fireworks_idle_timeout") ? conf->limits.idle_timeout
              : conf->retry_after_max) == n);
        return 1;
    }

    if (is(name, "fireworks_retry_after")
        || is(name, "fireworks_metrics_model")
        || is(name, "fireworks_hold_header")
        || is(name, "fireworks_stream_error"))
    {
        if (!ref_flag(v, &f)) {
            return 0;
        }

        want((is(name, "fireworks_retry_after") ? conf->retry_after
              : is(name, "fireworks_metrics_model") ? conf->metrics_model
              : is(name, "fireworks_hold_header") ? conf->hold_header
              : conf->stream_error) == f);
        return 1;
    }

    if (is(name, "fireworks_retry_budget")) {
        if (is(v, "off")) {
            if (a->n != 2) {
                return 0;
            }

            want(conf->budget == 0);
            return 1;
        }

        if (v->len < 2 || v->data[v->len - 1] != '%'
            || !ref_number(v->data, v->len - 1, 1000, &n)
            || n < 1 || n > 100)
        {
            return 0;
        }

        if (a->n == 3) {
            if (a->arg[2].len < 5
                || memcmp(a->arg[2].data, "min=", 4) != 0
                || !ref_number(a->arg[2].data + 4, a->arg[2].len - 4,
                               10000000, &m)
                || m > 1000000)
            {
                return 0;
            }

            want(conf->budget_min == m);
        }

        want(conf->budget == n);
        return 1;
    }

    if (is(name, "fireworks_max_waiting")) {
        if (is(v, "off")) {
            want(conf->max_waiting == 0);
            return 1;
        }

        if (!ref_number(v->data, v->len, 100000000, &n)
            || n < 1 || n > 10000000)
        {
            return 0;
        }

        want(conf->max_waiting == n);
        return 1;
    }

    if (is(name, "fireworks_gate") || is(name, "fireworks_client_retry")) {
        static const char  *g[] = { "off", "on", "all" };
        static const char  *c[] = { "off", "on", "auto" };

        for (i = 0; i < 3; i++) {
            if (is(v, is(name, "fireworks_gate") ? g[i] : c[i])) {
                want((is(name, "fireworks_gate") ? conf->gate
                      : conf->client_retry) == i);
                return 1;
            }
        }

        return 0;
    }

    if (is(name, "fireworks_log_level")) {
        static const char        *l[] = { "info", "notice", "warn", "error" };
        static const ngx_uint_t   level[] = { NGX_LOG_INFO, NGX_LOG_NOTICE,
                                              NGX_LOG_WARN, NGX_LOG_ERR };

        for (i = 0; i < 4; i++) {
            if (is(v, l[i])) {
                want(conf->log_level == level[i]);
                return 1;
            }
        }

        return 0;
    }

    if (is(name, "fireworks_inspect_size") || is(name, "fireworks_hold_size"))
    {
        if (!ref_size(v, &n) || n > MAX_SIZE) {
            return 0;
        }

        want((is(name, "fireworks_inspect_size") ? conf->inspect_size
              : conf->hold_size) == n);
        return 1;
    }

    if (is(name, "fireworks_route")) {
        want(conf->route_name.len == v->len
             && memcmp(conf->route_name.data, v->data, v->len) == 0);
        return 1;
    }

    fail("no grammar for %.*s", (int) name->len, name->data);
    return 0;

#undef want
}


/* a refusal as nginx -t shows it: the directive and the value, quoted */

static void
check_message(ngx_str_t *name, args_t *a)
{
    u_char      q[NGX_MAX_CONF_ERRSTR];
    size_t      len;
    ngx_uint_t  i, c;

    if (logged_n == 0) {
        fail("%.*s refused with no message", (int) name->len, name->data);
    }

    ngx_sprintf(q, "\"%V\"%Z", name);

    if (ngx_strlcasestrn(logged, logged + logged_len, q, name->len + 1)
        == NULL)
    {
        fail("the message does not name %.*s", (int) name->len, name->data);
    }

    /* nginx's own slots print a value as a C string, up to a NUL */

    for (i = 1; i < a->n; i++) {
        len = a->arg[i].len;

        if (len + 2 > sizeof(q)) {
            return;
        }

        for (c = 0; c < 2; c++) {
            if (c == 1) {
                len = strlen((char *) a->arg[i].data);
            }

            q[0] = '"';
            ngx_memcpy(q + 1, a->arg[i].data, len);
            q[len + 1] = '"';

            if (memmem(logged, logged_len, q, len + 2) != NULL) {
                return;
            }
        }
    }

    fail("the message of %.*s names none of its values",
         (int) name->len, name->data);
}


/* ----- the input ------------------------------------------------------- */


static ngx_command_t  *commands[64];
static ngx_uint_t      ncommands;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_command_t  *cmd;

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;
    ngx_time_init();

    fuzz_log.log_level = NGX_LOG_DEBUG;
    fuzz_log.writer = writer;

    for (cmd = ngx_http_fireworks_module.commands; cmd->name.len; cmd++) {
        if (is(&cmd->name, "fireworks_pass")
            || is(&cmd->name, "fireworks_metrics")
            || is(&cmd->name, "fireworks_zone"))
        {
            continue;
        }

        commands[ncommands++] = cmd;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                           *rv;
    u_char                         *p, *last, *line, *eol, *t;
    args_t                          a;
    ngx_str_t                      *value;
    ngx_uint_t                      i, seen[64];
    ngx_pool_t                     *pool;
    ngx_conf_t                      cf;
    ngx_command_t                  *cmd;
    ngx_http_module_t              *ctx;
    ngx_http_fireworks_loc_conf_t  *conf;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &fuzz_log);
    if (pool == NULL) {
        fail("no pool");
    }

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = &fuzz_log;
    cf.args = ngx_array_create(pool, ARGS, sizeof(ngx_str_t));

    ctx = ngx_http_fireworks_module.ctx;
    conf = ctx->create_loc_conf(&cf);

    if (cf.args == NULL || conf == NULL) {
        fail("no memory");
    }

    ngx_memzero(seen, sizeof(seen));

    /* a copy, so that each argument can end with a NUL as nginx's do */

    p = ngx_pnalloc(pool, size + 1);
    ngx_memcpy(p, data, size);
    last = p + size;

    for (line = p; line < last; line = eol + 1) {
        eol = memchr(line, '\n', last - line);
        if (eol == NULL) {
            eol = last;
        }

        cmd = commands[*line % ncommands];

        a.arg[0] = cmd->name;
        a.n = 1;

        for (t = line + 1; t < eol && a.n < ARGS; /* void */) {
            a.arg[a.n].data = t;

            while (t < eol && *t != ' ') {
                t++;
            }

            a.arg[a.n].len = t - a.arg[a.n].data;

            if (a.arg[a.n].len) {
                a.n++;
            }

            *t++ = '\0';
        }

        if (!count_ok(cmd, a.n - 1)) {
            continue;
        }

        if (is(&cmd->name, "fireworks_workload")
            && memchr(a.arg[1].data, '$', a.arg[1].len))
        {
            continue;
        }

        cf.args->nelts = 0;

        for (i = 0; i < a.n; i++) {
            value = ngx_array_push(cf.args);
            *value = a.arg[i];
        }

        logged_len = 0;
        logged_n = 0;

        rv = cmd->set(&cf, cmd, conf);

        if (seen[*line % ncommands]) {

            /* nginx: "fireworks_x" directive is duplicate */

            if (rv == NGX_CONF_OK) {
                fail("%.*s accepted twice", (int) cmd->name.len,
                     cmd->name.data);
            }

            continue;
        }

        if (rv != NGX_CONF_OK && rv != NGX_CONF_ERROR) {
            fail("%.*s returned \"%s\": no value in nginx's message",
                 (int) cmd->name.len, cmd->name.data, rv);
        }

        if (rv == NGX_CONF_OK) {
            seen[*line % ncommands] = 1;

            if (logged_n) {
                fail("%.*s accepted with a message", (int) cmd->name.len,
                     cmd->name.data);
            }

            if (!grammar(&cmd->name, &a, conf, 0)) {
                fail("%.*s accepted what the grammar refuses (arg 1: "
                     "\"%.*s\")", (int) cmd->name.len, cmd->name.data,
                     (int) a.arg[1].len, a.arg[1].data);
            }

            grammar(&cmd->name, &a, conf, 1);
            continue;
        }

        if (grammar(&cmd->name, &a, conf, 0)) {
            fail("%.*s refused what the grammar accepts (arg 1: \"%.*s\")",
                 (int) cmd->name.len, cmd->name.data,
                 (int) a.arg[1].len, a.arg[1].data);
        }

        check_message(&cmd->name, &a);

        /* a refused directive may have stored part of it: a fresh conf */

        conf = ctx->create_loc_conf(&cf);
        ngx_memzero(seen, sizeof(seen));
    }

    ngx_destroy_pool(pool);

    return 0;
}
