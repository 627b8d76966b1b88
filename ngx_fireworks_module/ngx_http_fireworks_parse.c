
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Retry-After and retry-after-ms, strictly.  Only nginx types and libc
 * macros here, no nginx function: t/fuzz/ builds this file standalone.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_fireworks_parse.h"


/* 9999-12-31 23:59:59 GMT, the last second a 4-digit year can name */
#define NGX_HTTP_FIREWORKS_TIME_MAX   253402300799LL

#define ngx_http_fireworks_ows(c)     ((c) == ' ' || (c) == '\t')
#define ngx_http_fireworks_digit(c)   ((c) >= '0' && (c) <= '9')


typedef struct {
    int64_t     year;
    ngx_uint_t  mon;                  /* 1-12 */
    ngx_uint_t  mday;
    ngx_uint_t  hour;
    ngx_uint_t  min;
    ngx_uint_t  sec;                  /* 0-60: 60 is a leap second */
} ngx_http_fireworks_tm_t;


static ngx_int_t ngx_http_fireworks_parse_delay(u_char *p, u_char *last,
    ngx_uint_t scale, ngx_msec_t *ms);
static ngx_int_t ngx_http_fireworks_parse_date(u_char *p, u_char *last,
    time_t now, int64_t *t);
static ngx_int_t ngx_http_fireworks_literal(u_char **pp, u_char *last,
    const char *s);
static ngx_int_t ngx_http_fireworks_digits(u_char **pp, u_char *last,
    ngx_uint_t n, ngx_uint_t *v);
static ngx_int_t ngx_http_fireworks_name(u_char **pp, u_char *last,
    const char **names, ngx_uint_t *i);
static ngx_int_t ngx_http_fireworks_time_of_day(u_char **pp, u_char *last,
    ngx_http_fireworks_tm_t *tm);
static void ngx_http_fireworks_rfc850_year(ngx_http_fireworks_tm_t *tm,
    ngx_uint_t yy, time_t now);
static ngx_uint_t ngx_http_fireworks_mdays(int64_t year, ngx_uint_t mon);
static int64_t ngx_http_fireworks_days(int64_t year, ngx_uint_t mon,
    ngx_uint_t mday);
static void ngx_http_fireworks_gmtime(int64_t t, ngx_http_fireworks_tm_t *tm);


/* RFC 9110 5.6.7: day-name, day-name-l and month, all case-sensitive */

static const char  *ngx_http_fireworks_wdays[] = {
    "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", NULL
};

static const char  *ngx_http_fireworks_wdays_l[] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
    "Sunday", NULL
};

static const char  *ngx_http_fireworks_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec", NULL
};


ngx_int_t
ngx_http_fireworks_parse_retry_after(u_char *p, size_t len, time_t now,
    ngx_msec_t *ms)
{
    u_char   *last;
    int64_t   t;

    last = p + len;

    while (p < last && ngx_http_fireworks_ows(*p)) {
        p++;
    }

    while (last > p && ngx_http_fireworks_ows(last[-1])) {
        last--;
    }

    if (ngx_http_fireworks_parse_delay(p, last, 3, ms) == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_fireworks_parse_date(p, last, now, &t) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* a date already past means "now" */

    t -= now;

    if (t <= 0) {
        *ms = 0;

    } else if (t >= NGX_HTTP_FIREWORKS_DELAY_CAP / 1000) {
        *ms = NGX_HTTP_FIREWORKS_DELAY_CAP;

    } else {
        *ms = (ngx_msec_t) t * 1000;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_fireworks_parse_retry_after_ms(u_char *p, size_t len,
    ngx_msec_t *ms)
{
    u_char  *last;

    last = p + len;

    while (p < last && ngx_http_fireworks_ows(*p)) {
        p++;
    }

    while (last > p && ngx_http_fireworks_ows(last[-1])) {
        last--;
    }

    return ngx_http_fireworks_parse_delay(p, last, 0, ms);
}


time_t
ngx_http_fireworks_parse_http_date(u_char *p, size_t len, time_t now)
{
    int64_t  t;

    if (ngx_http_fireworks_parse_date(p, p + len, now, &t) != NGX_OK
        || t < 0
        || (int64_t) (time_t) t != t)
    {
        return NGX_ERROR;
    }

    return (time_t) t;
}


/*
 * 1*DIGIT [ "." 1*DIGIT ]: RFC 9110's delay-seconds plus the fraction
 * the OpenAI SDKs accept.  scale is how many fraction digits are whole
 * milliseconds: 3 for seconds, 0 for milliseconds.  Any non-zero digit
 * past those rounds up, so that a wait asked to be a little over 1 s
 * is never cut to 1 s.  Values saturate at NGX_HTTP_FIREWORKS_DELAY_CAP:
 * a valid number is never garbage, however long.
 */

static ngx_int_t
ngx_http_fireworks_parse_delay(u_char *p, u_char *last, ngx_uint_t scale,
    ngx_msec_t *ms)
{
    uint64_t    n;
    ngx_uint_t  k, d, frac, up;

    if (p == last || !ngx_http_fireworks_digit(*p)) {
        return NGX_DECLINED;
    }

    n = 0;

    /* n stays below 10 * (cap + 1): past the cap only the syntax counts */

    while (p < last && ngx_http_fireworks_digit(*p)) {
        if (n <= NGX_HTTP_FIREWORKS_DELAY_CAP) {
            n = n * 10 + (*p - '0');
        }

        p++;
    }

    frac = 0;

    if (p < last && *p == '.') {
        p++;

        if (p == last || !ngx_http_fireworks_digit(*p)) {
            return NGX_DECLINED;
        }

        frac = 1;
    }

    for (k = 0; k < scale; k++) {
        d = 0;

        if (frac && p < last && ngx_http_fireworks_digit(*p)) {
            d = *p++ - '0';
        }

        if (n <= NGX_HTTP_FIREWORKS_DELAY_CAP) {
            n = n * 10 + d;
        }
    }

    up = 0;

    while (frac && p < last && ngx_http_fireworks_digit(*p)) {
        if (*p != '0') {
            up = 1;
        }

        p++;
    }

    if (p != last) {
        return NGX_DECLINED;
    }

    n += up;

    *ms = (ngx_msec_t) ngx_min(n, NGX_HTTP_FIREWORKS_DELAY_CAP);

    return NGX_OK;
}


/*
 * RFC 9110 5.6.7, exactly as its ABNF says: case-sensitive names, single
 * spaces, "GMT" and nothing else, fields range-checked.  The day name is
 * not checked against the date: nothing here depends on it.
 *
 *   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
 *   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime      Sun Nov  6 08:49:37 1994
 */

static ngx_int_t
ngx_http_fireworks_parse_date(u_char *p, u_char *last, time_t now,
    int64_t *t)
{
    ngx_uint_t               wday, mon, v, rfc850;
    ngx_http_fireworks_tm_t  tm;

    rfc850 = 0;

    if (ngx_http_fireworks_name(&p, last, ngx_http_fireworks_wdays, &wday)
        != NGX_OK
        || p == last)
    {
        return NGX_ERROR;
    }

    if (*p == ' ') {

        /* asctime-date = day-name SP date3 SP time-of-day SP year */

        p++;

        if (ngx_http_fireworks_name(&p, last, ngx_http_fireworks_months,
                                    &mon)
            != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " ") != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* date3's day: 2DIGIT or SP DIGIT */

        if (ngx_http_fireworks_literal(&p, last, " ") == NGX_OK) {
            if (ngx_http_fireworks_digits(&p, last, 1, &tm.mday) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (ngx_http_fireworks_digits(&p, last, 2, &tm.mday)
                   != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_time_of_day(&p, last, &tm) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_digits(&p, last, 4, &v) != NGX_OK)
        {
            return NGX_ERROR;
        }

        tm.year = v;

    } else if (*p == ',') {

        /* IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT */

        p++;

        if (ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_digits(&p, last, 2, &tm.mday) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_name(&p, last, ngx_http_fireworks_months,
                                       &mon)
               != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_digits(&p, last, 4, &v) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_time_of_day(&p, last, &tm) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " GMT") != NGX_OK)
        {
            return NGX_ERROR;
        }

        tm.year = v;

    } else {

        /* rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT */

        if (ngx_http_fireworks_literal(&p, last,
                                       ngx_http_fireworks_wdays_l[wday] + 3)
            != NGX_OK
            || ngx_http_fireworks_literal(&p, last, ", ") != NGX_OK
            || ngx_http_fireworks_digits(&p, last, 2, &tm.mday) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, "-") != NGX_OK
            || ngx_http_fireworks_name(&p, last, ngx_http_fireworks_months,
                                       &mon)
               != NGX_OK
            || ngx_http_fireworks_literal(&p, last, "-") != NGX_OK
            || ngx_http_fireworks_digits(&p, last, 2, &v) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " ") != NGX_OK
            || ngx_http_fireworks_time_of_day(&p, last, &tm) != NGX_OK
            || ngx_http_fireworks_literal(&p, last, " GMT") != NGX_OK)
        {
            return NGX_ERROR;
        }

        rfc850 = 1;
    }

    if (p != last) {
        return NGX_ERROR;
    }

    tm.mon = mon + 1;

    if (rfc850) {
        ngx_http_fireworks_rfc850_year(&tm, v, now);
    }

    if (tm.mday == 0
        || tm.mday > ngx_http_fireworks_mdays(tm.year, tm.mon)
        || tm.hour > 23
        || tm.min > 59
        || tm.sec > 60)
    {
        return NGX_ERROR;
    }

    *t = ngx_http_fireworks_days(tm.year, tm.mon, tm.mday) * 86400
         + tm.hour * 3600 + tm.min * 60 + tm.sec;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_literal(u_char **pp, u_char *last, const char *s)
{
    u_char  *p;

    for (p = *pp; *s != '\0'; p++, s++) {
        if (p == last || *p != (u_char) *s) {
            return NGX_ERROR;
        }
    }

    *pp = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_digits(u_char **pp, u_char *last, ngx_uint_t n,
    ngx_uint_t *v)
{
    u_char  *p;

    *v = 0;

    for (p = *pp; n; p++, n--) {
        if (p == last || !ngx_http_fireworks_digit(*p)) {
            return NGX_ERROR;
        }

        *v = *v * 10 + (*p - '0');
    }

    *pp = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fireworks_name(u_char **pp, u_char *last, const char **names,
    ngx_uint_t *i)
{
    for (*i = 0; names[*i] != NULL; (*i)++) {
        if (ngx_http_fireworks_literal(pp, last, names[*i]) == NGX_OK) {
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_fireworks_time_of_day(u_char **pp, u_char *last,
    ngx_http_fireworks_tm_t *tm)
{
    if (ngx_http_fireworks_digits(pp, last, 2, &tm->hour) != NGX_OK
        || ngx_http_fireworks_literal(pp, last, ":") != NGX_OK
        || ngx_http_fireworks_digits(pp, last, 2, &tm->min) != NGX_OK
        || ngx_http_fireworks_literal(pp, last, ":") != NGX_OK
        || ngx_http_fireworks_digits(pp, last, 2, &tm->sec) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * RFC 9110 5.6.7: a two-digit year that would put the timestamp more than
 * 50 years in the future names the most recent past year with the same
 * last two digits.  So the year is the latest one ending in yy whose
 * timestamp is at most now + 50 years, compared field by field.
 */

static void
ngx_http_fireworks_rfc850_year(ngx_http_fireworks_tm_t *tm, ngx_uint_t yy,
    time_t now)
{
    int64_t                  limit;
    ngx_http_fireworks_tm_t  n;

    ngx_http_fireworks_gmtime(now, &n);

    limit = n.year + 50;

    tm->year = limit - (limit - (int64_t) yy) % 100;

    if (tm->year < limit) {
        return;
    }

    if (tm->mon != n.mon) {
        tm->year -= (tm->mon > n.mon) ? 100 : 0;

    } else if (tm->mday != n.mday) {
        tm->year -= (tm->mday > n.mday) ? 100 : 0;

    } else if (tm->hour != n.hour) {
        tm->year -= (tm->hour > n.hour) ? 100 : 0;

    } else if (tm->min != n.min) {
        tm->year -= (tm->min > n.min) ? 100 : 0;

    } else {
        tm->year -= (tm->sec > n.sec) ? 100 : 0;
    }
}


static ngx_uint_t
ngx_http_fireworks_mdays(int64_t year, ngx_uint_t mon)
{
    static const u_char  mdays[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (mon == 2
        && year % 4 == 0
        && (year % 100 != 0 || year % 400 == 0))
    {
        return 29;
    }

    return mdays[mon - 1];
}


/*
 * Days from 1970-01-01 to year-mon-mday, proleptic Gregorian.  Years are
 * counted from March so that February 29 ends one; 400 years (146097
 * days) are added so that the divisions work on positive numbers only,
 * from year 0 on.  719468 days separate 0000-03-01 from 1970-01-01.
 */

static int64_t
ngx_http_fireworks_days(int64_t year, ngx_uint_t mon, ngx_uint_t mday)
{
    int64_t  y;

    y = year + 400;

    if (mon <= 2) {
        y--;
        mon += 12;
    }

    return y * 365 + y / 4 - y / 100 + y / 400
           + (153 * (mon - 3) + 2) / 5 + mday - 1
           - 719468 - 146097;
}


/* now's calendar fields, clamped to 1970-9999; a few steps at most */

static void
ngx_http_fireworks_gmtime(int64_t t, ngx_http_fireworks_tm_t *tm)
{
    int64_t  days, secs;

    t = ngx_max(t, 0);
    t = ngx_min(t, NGX_HTTP_FIREWORKS_TIME_MAX);

    days = t / 86400;
    secs = t % 86400;

    /* days / 365 + 1970 is never too small, and too large by a few */

    tm->year = 1970 + days / 365;

    while (ngx_http_fireworks_days(tm->year, 1, 1) > days) {
        tm->year--;
    }

    for (tm->mon = 12; ngx_http_fireworks_days(tm->year, tm->mon, 1) > days;
         tm->mon--)
    {
        /* void */
    }

    tm->mday = (ngx_uint_t) (days - ngx_http_fireworks_days(tm->year, tm->mon,
                                                             1)) + 1;
    tm->hour = (ngx_uint_t) secs / 3600;
    tm->min = (ngx_uint_t) secs / 60 % 60;
    tm->sec = (ngx_uint_t) secs % 60;
}
