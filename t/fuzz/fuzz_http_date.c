
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * libFuzzer harness of the HTTP-date parser (ngx_http_fireworks_parse.c):
 *
 *   - an accepted date is at or after 1970, and the same time written
 *     again by gmtime_r() in each of the three formats (the RFC 850 one
 *     with now = that time) reads back to it;
 *   - an input of IMF-fixdate's length is accepted exactly when a
 *     reference written here (fixed positions, glibc's timegm()) accepts
 *     it, with the same time.
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

    fprintf(stderr, "fuzz_http_date: ");
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    abort();
}



static const char  *days[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char  *days_l[] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
};

static const char  *months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec"
};

static const time_t  nows[] = { 0, 784111777, 1767225600, 4102444800LL };


static void fifty_years(const char *buf, struct tm *tm, time_t t);


static int
leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


/* IMF-fixdate at fixed positions: 1 and *t, or 0 */

static int
ref_imf(const u_char *p, size_t n, time_t *t)
{
    int         i, v[5], mon, wd;
    struct tm   tm;

    static const int     pos[5] = { 5, 12, 17, 20, 23 };
    static const int     len[5] = { 2, 4, 2, 2, 2 };
    static const int     mdays[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (n != 29 || memcmp(p + 3, ", ", 2) != 0 || p[7] != ' '
        || p[11] != ' ' || p[16] != ' ' || p[19] != ':' || p[22] != ':'
        || memcmp(p + 25, " GMT", 4) != 0)
    {
        return 0;
    }

    for (wd = 0; wd < 7 && memcmp(p, days[wd], 3) != 0; wd++) {
        /* void */
    }

    for (mon = 0; mon < 12 && memcmp(p + 8, months[mon], 3) != 0; mon++) {
        /* void */
    }

    if (wd == 7 || mon == 12) {
        return 0;
    }

    for (i = 0; i < 5; i++) {
        int  k;

        v[i] = 0;

        for (k = 0; k < len[i]; k++) {
            if (p[pos[i] + k] < '0' || p[pos[i] + k] > '9') {
                return 0;
            }

            v[i] = v[i] * 10 + p[pos[i] + k] - '0';
        }
    }

    if (v[0] < 1
        || v[0] > mdays[mon] + (mon == 1 && leap(v[1]))
        || v[2] > 23 || v[3] > 59 || v[4] > 60)
    {
        return 0;
    }

    memset(&tm, 0, sizeof(struct tm));
    tm.tm_mday = v[0];
    tm.tm_mon = mon;
    tm.tm_year = v[1] - 1900;
    tm.tm_hour = v[2];
    tm.tm_min = v[3];
    tm.tm_sec = v[4];

    *t = timegm(&tm);

    return 1;
}


static void
roundtrip(time_t t, time_t now)
{
    char        buf[64];
    time_t      r;
    struct tm   tm;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        return;
    }

    snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    r = ngx_http_fireworks_parse_http_date((u_char *) buf, strlen(buf), now);

    if (r != t) {
        fail("IMF-fixdate \"%s\": %ld, want %ld\n", buf,
             (long) r, (long) t);
    }

    snprintf(buf, sizeof(buf), "%s %s %2d %02d:%02d:%02d %04d",
             days[tm.tm_wday], months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
    r = ngx_http_fireworks_parse_http_date((u_char *) buf, strlen(buf), now);

    if (r != t) {
        fail("asctime \"%s\": %ld, want %ld\n", buf, (long) r,
             (long) t);
    }

    /* with now = t, the two-digit year is t's own */

    snprintf(buf, sizeof(buf), "%s, %02d-%s-%02d %02d:%02d:%02d GMT",
             days_l[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             (tm.tm_year + 1900) % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
    r = ngx_http_fireworks_parse_http_date((u_char *) buf, strlen(buf), t);

    if (r != t) {
        fail("rfc850 \"%s\": %ld, want %ld\n", buf, (long) r,
             (long) t);
    }

    fifty_years(buf, &tm, t);
}


/*
 * RFC 9110's 50-year rule at its edge: with now exactly 50 years before
 * t, t is not "more than 50 years in the future" and stays; a second
 * later, it names the same date a century earlier.
 */

static void
fifty_years(const char *buf, struct tm *tm, time_t t)
{
    int         year;
    time_t      now, r, want;
    struct tm   n;

    year = tm->tm_year + 1900;

    if (year - 50 < 1971 || (tm->tm_mon == 1 && tm->tm_mday == 29)) {
        return;
    }

    n = *tm;
    n.tm_year -= 50;
    now = timegm(&n);

    r = ngx_http_fireworks_parse_http_date((u_char *) buf, strlen(buf), now);

    if (r != t) {
        fail("rfc850 \"%s\" now - 50 years: %ld, want %ld\n", buf,
             (long) r, (long) t);
    }

    n = *tm;
    n.tm_year -= 100;
    want = (year - 100 >= 1970) ? timegm(&n) : NGX_ERROR;

    r = ngx_http_fireworks_parse_http_date((u_char *) buf, strlen(buf),
                                           now - 1);

    if (r != want) {
        fail("rfc850 \"%s\" now - 50 years - 1 s: %ld, want %ld\n", buf,
             (long) r, (long) want);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int         ok;
    size_t      i;
    time_t      t, ref;

    ok = ref_imf(data, size, &ref);

    for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        t = ngx_http_fireworks_parse_http_date((u_char *) data, size,
                                               nows[i]);

        if (size == 29 && data[3] == ',') {
            if ((ok && ref >= 0) ? t != ref : t != NGX_ERROR) {
                fail("IMF-fixdate: %ld, reference %d %ld\n",
                     (long) t, ok, (long) ref);
            }
        }

        if (t == NGX_ERROR) {
            continue;
        }

        if (t < 0) {
            fail("%ld before 1970\n", (long) t);
        }

        roundtrip(t, nows[i]);
    }

    return 0;
}
