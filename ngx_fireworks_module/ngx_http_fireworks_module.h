
/*
 * Copyright (C) ngx_fireworks_module authors
 */


#ifndef _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_
#define _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_fireworks_parse.h"


#define NGX_HTTP_FIREWORKS_MAX_TRIES        100
#define NGX_HTTP_FIREWORKS_STATUS_MIN       300
#define NGX_HTTP_FIREWORKS_STATUS_MAX       599


typedef enum {
    NGX_HTTP_FIREWORKS_INTERACTIVE = 0,
    NGX_HTTP_FIREWORKS_AGENTIC,
    NGX_HTTP_FIREWORKS_LONG_CONTEXT,
    NGX_HTTP_FIREWORKS_BATCH
} ngx_http_fireworks_workload_e;


typedef enum {
    NGX_HTTP_FIREWORKS_INIT = 0,      /* reading the client body */
    NGX_HTTP_FIREWORKS_RUNNING,       /* attempt sent, no header yet */
    NGX_HTTP_FIREWORKS_DISCARD,       /* retryable answer, swallowing it */
    NGX_HTTP_FIREWORKS_BACKOFF,       /* waiting on the timer */
    NGX_HTTP_FIREWORKS_GIVEUP,        /* nginx's error page goes out next */
    NGX_HTTP_FIREWORKS_FORWARD        /* the answer goes to the client */
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

    ngx_uint_t                    tries;
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
    ngx_http_request_t           *sr;          /* attempt in progress */

    ngx_http_post_subrequest_t    ps;
    ngx_event_t                   timer;       /* backoff, attempt, idle */

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

    unsigned                      status_seen:1;
    unsigned                      states_merged:1;
    unsigned                      complete:1;
} ngx_http_fireworks_ctx_t;


ngx_int_t ngx_http_fireworks_handler(ngx_http_request_t *r);
void ngx_http_fireworks_wake(ngx_http_request_t *r);
ngx_int_t ngx_http_fireworks_decide(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_request_t *sr, ngx_uint_t status);
void ngx_http_fireworks_record_status(ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t status);
void ngx_http_fireworks_arm(ngx_http_fireworks_ctx_t *ctx, ngx_msec_t t);

ngx_msec_t ngx_http_fireworks_backoff(ngx_http_fireworks_loc_conf_t *flcf,
    ngx_uint_t retry);
ngx_msec_t ngx_http_fireworks_jitter(ngx_http_fireworks_loc_conf_t *flcf);
ngx_int_t ngx_http_fireworks_retry_after(ngx_http_request_t *sr,
    ngx_msec_t *ms);

ngx_int_t ngx_http_fireworks_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_fireworks_add_variables(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_fireworks_module;


#endif /* _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_ */
