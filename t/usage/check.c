/*
 * The usage scanner against t/usage/gen.py's answers (t/41-usage.t):
 * each answer whole, byte by byte and in random pieces of 1 to 9 bytes,
 * each piece its own allocation; then streams of 5 of them as events
 * (LF or CRLF lines, a comment, an event field, "data:" with and without
 * a space, [DONE]), where the last usage wins.  Reads "expected<TAB>hex"
 * lines; prints the failures and a count.
 *
 *   python3 gen.py SEED | ./check
 *   ./check --bench     ns per answer: bench/'s chat completion, an event
 */

#include "ngx_http_fireworks_usage.c"
#include <time.h>
#include <stdlib.h>

/* what the scanner's file links against, unused here */

ngx_module_t  ngx_http_fireworks_module, ngx_http_core_module;
volatile ngx_time_t  *ngx_cached_time;
ngx_http_variable_t *ngx_http_add_variable(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t flags) { return NULL; }
void *ngx_pcalloc(ngx_pool_t *pool, size_t size) { return NULL; }
void *ngx_pnalloc(ngx_pool_t *pool, size_t size) { return NULL; }
u_char *ngx_sprintf(u_char *buf, const char *fmt, ...) { return buf; }
ngx_int_t ngx_strncasecmp(u_char *s1, u_char *s2, size_t n) { return 0; }
void ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err, const char *fmt, ...) {}

typedef struct { int has; unsigned long long p, c, k; } exp_t;

static void feed(ngx_http_fireworks_usage_t *u, u_char *b, size_t len, int how)
{
    size_t i = 0, n;
    while (i < len) {
        n = how == 0 ? len - i : how == 1 ? 1 : (size_t) (rand() % 9) + 1;
        if (n > len - i) n = len - i;
        /* each piece its own copy, so that reading past it is caught by ASan */
        u_char *c = malloc(n); memcpy(c, b + i, n);
        if (u->mode == 2) ngx_http_fireworks_usage_sse(u, c, c + n, 1);
        else ngx_http_fireworks_usage_json(u, c, c + n);
        free(c);
        i += n;
    }
}

static int check(const char *what, int k, ngx_http_fireworks_usage_t *u, exp_t *e)
{
    if (u->has_usage != e->has || (e->has && (u->prompt != e->p || u->completion != e->c || u->cached != e->k))) {
        printf("FAIL %s case %d how: has %d/%d p %llu/%llu c %llu/%llu k %llu/%llu\n", what, k, u->has_usage, e->has,
               (unsigned long long) u->prompt, e->p, (unsigned long long) u->completion, e->c, (unsigned long long) u->cached, e->k);
        return 1;
    }
    return 0;
}

/* the scanner's time per answer, the fastest of 30 runs of 100,000 */

static int bench(void)
{
    static char json[] = "{\"id\":\"chatcmpl-8f1c2a\",\"object\":"
        "\"chat.completion\",\"created\":1731000000,\"model\":\"accounts/"
        "fireworks/models/llama-v3p1-8b-instruct\",\"choices\":[{\"index\":"
        "0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello! How "
        "can I help you today?\"},\"finish_reason\":\"stop\"}],\"usage\":"
        "{\"prompt_tokens\":12,\"completion_tokens\":9,\"total_tokens\":21}}";
    static char ev[] = "data: {\"id\":\"x\",\"object\":\"chat.completion."
        "chunk\",\"created\":1731000000,\"model\":\"accounts/fireworks/"
        "models/llama-v3p1-8b-instruct\",\"choices\":[{\"index\":0,\"delta"
        "\":{\"content\":\"tok1 \"},\"finish_reason\":null}],\"usage\":"
        "null}\n\n";
    ngx_http_fireworks_usage_t  u;
    struct timespec             a, b;
    double                      t, bj = 1e18, bs = 1e18;
    int                         i, r, n = 100000;

    for (r = 0; r < 30; r++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (i = 0; i < n; i++) {
            memset(&u, 0, sizeof(u));
            u.mode = 1;
            ngx_http_fireworks_usage_json(&u, (u_char *) json,
                                          (u_char *) json + sizeof(json) - 1);
            if (!u.has_usage || u.completion != 9) {
                return 1;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        t = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
        bj = t < bj ? t : bj;

        memset(&u, 0, sizeof(u));
        u.mode = 2;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (i = 0; i < n; i++) {
            ngx_http_fireworks_usage_sse(&u, (u_char *) ev,
                                         (u_char *) ev + sizeof(ev) - 1, 1);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        t = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
        bs = t < bs ? t : bs;
    }

    printf("JSON answer, %zu bytes: %.0f ns; SSE event, %zu bytes: %.0f ns\n",
           sizeof(json) - 1, bj, sizeof(ev) - 1, bs);
    return 0;
}


int main(int argc, char **argv)
{
    static char line[1 << 20];
    static u_char buf[1 << 19], sse[1 << 22];
    exp_t e[400];
    size_t len[400]; u_char *text[400];
    int n = 0, fails = 0, how, i, j;

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        return bench();
    }

    while (fgets(line, sizeof(line), stdin) && n < 400) {
        char *tab = strchr(line, '\t');
        *tab = 0;
        e[n].has = strcmp(line, "none") != 0;
        if (e[n].has) sscanf(line, "%llu %llu %llu", &e[n].p, &e[n].c, &e[n].k);
        size_t h = strlen(tab + 1) - 1;
        len[n] = h / 2; text[n] = malloc(len[n]);
        for (i = 0; i < (int) len[n]; i++) { unsigned x; sscanf(tab + 1 + 2 * i, "%2x", &x); text[n][i] = x; }
        n++;
    }

    for (how = 0; how < 3; how++) {
        for (i = 0; i < n; i++) {
            ngx_http_fireworks_usage_t u; memset(&u, 0, sizeof(u)); u.mode = 1;
            feed(&u, text[i], len[i], how);
            fails += check("json", i, &u, &e[i]);
        }
        /* streams of 5 events each, the last usage wins */
        for (i = 0; i + 5 <= n; i += 5) {
            size_t sl = 0; exp_t x = { 0 };
            const char *nl = (i / 5) % 2 ? "\r\n" : "\n";
            sl += sprintf((char *) sse + sl, ": ping%s%s", nl, nl);
            for (j = i; j < i + 5; j++) {
                sl += sprintf((char *) sse + sl, "event: x%sdata:%s", nl, j % 2 ? " " : "");
                memcpy(sse + sl, text[j], len[j]); sl += len[j];
                sl += sprintf((char *) sse + sl, "%s%s", nl, nl);
                if (e[j].has) x = e[j];
            }
            sl += sprintf((char *) sse + sl, "data: [DONE]%s%s", nl, nl);
            ngx_http_fireworks_usage_t u; memset(&u, 0, sizeof(u)); u.mode = 2;
            feed(&u, sse, sl, how);
            fails += check("sse", i, &u, &x);
        }
    }
    printf("%d cases, %d failures\n", n, fails);
    return fails != 0;
}
