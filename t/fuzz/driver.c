
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The unit driver of t/17-parsers.t: runs the parsers on cases read from
 * stdin, one answer line per case on stdout.  Values travel in hex so
 * that any byte can be tested.
 *
 *   ra NOW HEX              OK MS | DECLINED   (Retry-After)
 *   ram HEX                 OK MS | DECLINED   (retry-after-ms)
 *   date NOW HEX            T | ERROR          (HTTP-date)
 *   sse HEX                 END DATA STATUS    (ngx_http_fireworks_sse.c)
 *       -> the first event's end and its data's "start-end" as offsets
 *          ("-" while none), and the status of that data's error object
 *   json LIMIT LEN N S1..SN, then LEN raw bytes
 *       -> FEED END MODEL STREAM: the last feed's and the end's codes,
 *          the model in hex or "-", and 0 or 1.  LIMIT -1: the whole
 *          body, json_end(complete = 1); else its first LIMIT bytes and
 *          json_end(complete = 0).  S1..SN: where pieces split.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>

#include "ngx_http_fireworks_parse.h"
#include "ngx_http_fireworks_json.h"
#include "ngx_http_fireworks_sse.h"


static const char *
rc_name(ngx_int_t rc)
{
    switch (rc) {
    case NGX_OK:
        return "OK";
    case NGX_AGAIN:
        return "AGAIN";
    case NGX_DECLINED:
        return "DECLINED";
    default:
        return "ERROR";
    }
}


/* the value in an allocation of its exact size: ASan sees any overread */

static u_char *
unhex(const char *s, size_t *n)
{
    u_char    *out;
    unsigned   b;

    out = malloc(strlen(s) / 2 + 1);

    if (out == NULL) {
        exit(2);
    }

    for (*n = 0; s[0] && s[1] && sscanf(s, "%2x", &b) == 1; (*n)++) {
        out[*n] = (u_char) b;
        s += 2;
    }

    return realloc(out, *n ? *n : 1);
}


static void
json_case(char *line)
{
    long                        limit;
    size_t                      len, n, i, k, from, to, *split;
    u_char                     *body, *piece;
    ngx_int_t                   rc, end;
    ngx_http_fireworks_json_t   js;

    if (sscanf(line, "json %ld %zu %zu", &limit, &len, &n) != 3) {
        printf("BAD\n");
        return;
    }

    split = calloc(n + 1, sizeof(size_t));
    body = malloc(len + 1);

    if (split == NULL || body == NULL) {
        exit(2);
    }

    strtok(line, " ");

    for (i = 0; i < 3; i++) {
        strtok(NULL, " ");
    }

    for (i = 0; i < n; i++) {
        split[i] = strtoul(strtok(NULL, " \n"), NULL, 10);
    }

    if (fread(body, 1, len, stdin) != len) {
        exit(2);
    }

    if (limit >= 0 && (size_t) limit < len) {
        len = limit;
    }

    ngx_http_fireworks_json_init(&js);

    rc = NGX_AGAIN;
    from = 0;

    for (i = 0; i <= n && rc != NGX_DECLINED; i++) {
        to = (i < n) ? ngx_min(split[i], len) : len;
        to = ngx_max(to, from);

        /* a fresh copy of each piece: the scanner must keep no pointer */

        piece = malloc(to - from + 1);

        if (piece == NULL) {
            exit(2);
        }

        ngx_memcpy(piece, body + from, to - from);
        rc = ngx_http_fireworks_json_feed(&js, piece, piece + (to - from));
        free(piece);

        from = to;
    }

    end = ngx_http_fireworks_json_end(&js, limit < 0);

    printf("%s %s ", rc_name(rc), rc_name(end));

    if (end == NGX_OK && js.has_model) {
        printf("m");

        for (k = 0; k < js.model_len; k++) {
            printf("%02x", js.model[k]);
        }

    } else {
        printf("-");
    }

    printf(" %d", end == NGX_OK && js.stream);

    /* where the model's string is, quotes included, for fireworks_fallback */

    if (end == NGX_OK && js.value_end) {
        printf(" %ld:%ld\n", (long) js.value_start, (long) js.value_end);

    } else {
        printf(" -\n");
    }

    free(split);
    free(body);
}


static void
sse_case(u_char *buf, size_t n)
{
    u_char  *end, *data, *data_end;

    end = ngx_http_fireworks_sse_event(buf, buf + n, &data, &data_end);

    if (end == NULL) {
        printf("- - 0\n");
        return;
    }

    printf("%zu %zu-%zu %lu\n", (size_t) (end - buf), (size_t) (data - buf),
           (size_t) (data_end - buf),
           (unsigned long) ngx_http_fireworks_sse_error(data, data_end));
}


int
main(void)
{
    long        now;
    char       *line, hex[8192];
    u_char     *buf;
    size_t      cap, n;
    time_t      t;
    ngx_int_t   rc;
    ngx_msec_t  ms;

    line = NULL;
    cap = 0;

    while (getline(&line, &cap, stdin) > 0) {

        hex[0] = '\0';

        if (strncmp(line, "json ", 5) == 0) {
            json_case(line);

        } else if (strncmp(line, "ra ", 3) == 0
                   && sscanf(line, "ra %ld %8191s", &now, hex) >= 1)
        {
            buf = unhex(hex, &n);
            rc = ngx_http_fireworks_parse_retry_after(buf, n, now, &ms);
            free(buf);

            if (rc == NGX_OK) {
                printf("OK %lu\n", (unsigned long) ms);

            } else {
                printf("%s\n", rc_name(rc));
            }

        } else if (strncmp(line, "ram ", 4) == 0) {
            (void) sscanf(line + 4, "%8191s", hex);

            buf = unhex(hex, &n);
            rc = ngx_http_fireworks_parse_retry_after_ms(buf, n, &ms);
            free(buf);

            if (rc == NGX_OK) {
                printf("OK %lu\n", (unsigned long) ms);

            } else {
                printf("%s\n", rc_name(rc));
            }

        } else if (strncmp(line, "sse ", 4) == 0) {
            (void) sscanf(line + 4, "%8191s", hex);

            buf = unhex(hex, &n);
            sse_case(buf, n);
            free(buf);

        } else if (strncmp(line, "date ", 5) == 0
                   && sscanf(line, "date %ld %8191s", &now, hex) >= 1)
        {
            buf = unhex(hex, &n);
            t = ngx_http_fireworks_parse_http_date(buf, n, now);
            free(buf);

            if (t == NGX_ERROR) {
                printf("ERROR\n");

            } else {
                printf("%lld\n", (long long) t);
            }

        } else {
            printf("BAD\n");
        }

        fflush(stdout);
    }

    free(line);

    return 0;
}
