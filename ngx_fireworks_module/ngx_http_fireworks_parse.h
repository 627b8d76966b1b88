
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The API's "retry after" hints: Retry-After and retry-after-ms.  The
 * parsers use nginx's types and libc macros only, no nginx function, so
 * that the fuzzers and unit drivers of t/fuzz/ build them standalone.
 */


#ifndef _NGX_HTTP_FIREWORKS_PARSE_H_INCLUDED_
#define _NGX_HTTP_FIREWORKS_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Every valid delay saturates at 7 days: longer than any time a directive
 * accepts (24 hours at most), so a huge but valid hint always counts as
 * "longer than fireworks_retry_after_max"; and below 2^31, so it fits a
 * 32-bit ngx_msec_int_t with room for timer arithmetic.
 */
#define NGX_HTTP_FIREWORKS_DELAY_CAP        (7 * 24 * 3600 * 1000)


/* Retry-After (RFC 9110 10.2.3): delay-seconds or HTTP-date; now: seconds */
ngx_int_t ngx_http_fireworks_parse_retry_after(u_char *p, size_t len,
    time_t now, ngx_msec_t *ms);

/* retry-after-ms (read by the OpenAI SDKs): milliseconds, fraction allowed */
ngx_int_t ngx_http_fireworks_parse_retry_after_ms(u_char *p, size_t len,
    ngx_msec_t *ms);

/*
 * HTTP-date, all three formats of RFC 9110 5.6.7; now (seconds) resolves
 * the two-digit year of the RFC 850 format.  NGX_ERROR if invalid or
 * before 1970.
 */
time_t ngx_http_fireworks_parse_http_date(u_char *p, size_t len, time_t now);


#endif /* _NGX_HTTP_FIREWORKS_PARSE_H_INCLUDED_ */
