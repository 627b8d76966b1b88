
/*
 * Copyright (C) ngx_fireworks_module authors
 */


#ifndef _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_
#define _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_FIREWORKS_MAX_TRIES        100
#define NGX_HTTP_FIREWORKS_STATUS_MIN       300
#define NGX_HTTP_FIREWORKS_STATUS_MAX       599

/* the longest duration a directive accepts: one day */
#define NGX_HTTP_FIREWORKS_MAX_MSEC         86400000

/* a Retry-After longer than this is garbage, not a wish (about 31 years) */
#define NGX_HTTP_FIREWORKS_RA_LIMIT         999999999

/* an attempt's own pool: its subrequest, upstream and buffers */
#define NGX_HTTP_FIREWORKS_POOL_SIZE        8192


typedef enum {
    NGX_HTTP_FIREWORKS_INTERACTIVE = 0,
    NGX_HTTP_FIREWORKS_AGENTIC,
    NGX_HTTP_FIREWORKS_LONG_CONTEXT,
    NGX_HTTP_FIREWORKS_BATCH
} ngx_http_fireworks_workload_e;


typedef enum {
    NGX_HTTP_FIREWORKS_BODY = 0,      /* reading the client's body */
    NGX_HTTP_FIREWORKS_ATTEMPT,       /* an attempt runs, no header yet */
    NGX_HTTP_FIREWORKS_DISCARD,       /* its retryable answer is swallowed */
    NGX_HTTP_FIREWORKS_BACKOFF,       /* waiting for the next attempt */
    NGX_HTTP_FIREWORKS_FORWARD,       /* the answer goes to the client */
    NGX_HTTP_FIREWORKS_DONE           /* decided for good, nothing runs */
} ngx_http_fireworks_state_e;


typedef enum {
    NGX_HTTP_FIREWORKS_OUTCOME_NONE = 0,
    NGX_HTTP_FIREWORKS_OUTCOME_DONE,
    NGX_HTTP_FIREWORKS_OUTCOME_TRIES,
    NGX_HTTP_FIREWORKS_OUTCOME_CLIENT_CLOSED,
    NGX_HTTP_FIREWORKS_OUTCOME_DEADLINE,
    NGX_HTTP_FIREWORKS_OUTCOME_RETRY_AFTER,
    NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN
} ngx_http_fireworks_outcome_e;


typedef enum {
    NGX_HTTP_FIREWORKS_CUT_NONE = 0,
    NGX_HTTP_FIREWORKS_CUT_ATTEMPT,
    NGX_HTTP_FIREWORKS_CUT_DEADLINE,
    NGX_HTTP_FIREWORKS_CUT_IDLE
} ngx_http_fireworks_cut_e;


typedef struct {
    ngx_http_complex_value_t     *pass;
    ngx_http_complex_value_t     *pass_args;     /* after a written "?" */

    ngx_int_t                     tries;
    ngx_array_t                  *retry_on;      /* of ngx_uint_t */

    ngx_msec_t                    backoff_base;
    ngx_msec_t                    backoff_max;
    ngx_msec_t                    jitter;
    ngx_flag_t                    jitter_full;

    ngx_uint_t                    workload;
    ngx_msec_t                    deadline;
    ngx_msec_t                    attempt_timeout;
    ngx_msec_t                    idle_timeout;

    ngx_flag_t                    retry_after;
    ngx_msec_t                    retry_after_max;
} ngx_http_fireworks_loc_conf_t;


/* all per-request state: one ctx on the main request */

typedef struct {
    ngx_http_request_t           *request;

    /* the attempt in progress, NULL between attempts */
    ngx_http_request_t           *sr;
    ngx_pool_t                   *pool;        /* the attempt's own */
    ngx_http_cleanup_t           *cleanup;     /* r->cleanup before it */
    ngx_int_t                     rc;          /* what it finished with */
    ngx_uint_t                    status;      /* the API's, 0: none */

    ngx_http_post_subrequest_t    ps;
    ngx_event_t                   timer;       /* one meaning at a time */

    ngx_str_t                     uri;
    ngx_str_t                     args;

    ngx_msec_t                    deadline;    /* absolute, 0: none */
    ngx_msec_t                    wait_start;
    ngx_msec_t                    waited;      /* all backoff waits */
    ngx_msec_t                    delay;       /* the wait decided on */
    ngx_msec_t                    last_data;   /* for the idle timeout */

    ngx_array_t                   statuses;    /* of ngx_uint_t */

    ngx_uint_t                    attempt;
    ngx_http_fireworks_state_e    state;
    ngx_http_fireworks_outcome_e  outcome;
    ngx_http_fireworks_cut_e      cut;

    unsigned                      ended:1;     /* the attempt finished */
    unsigned                      complete:1;  /* with its last buffer */
    unsigned                      cut_warned:1;
} ngx_http_fireworks_ctx_t;


ngx_int_t ngx_http_fireworks_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_fireworks_filter_init(ngx_conf_t *cf);

ngx_msec_t ngx_http_fireworks_backoff(ngx_http_fireworks_loc_conf_t *flcf,
    ngx_uint_t retry);
ngx_msec_t ngx_http_fireworks_jitter(ngx_http_fireworks_loc_conf_t *flcf);
ngx_int_t ngx_http_fireworks_retry_after(ngx_http_request_t *sr,
    ngx_msec_t *ms);

ngx_int_t ngx_http_fireworks_add_variables(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_fireworks_module;


#endif /* _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_ */
