
/*
 * Copyright (C) ngx_fireworks_module authors
 */


#ifndef _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_
#define _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* "config" says so at configure time; this, for any other build */

#if (nginx_version < 1022000)
#error ngx_http_fireworks_module needs nginx 1.22.0 or newer
#endif

#include "ngx_http_fireworks_parse.h"
#include "ngx_http_fireworks_json.h"
#include "ngx_http_fireworks_sse.h"


#define NGX_HTTP_FIREWORKS_MAX_TRIES        100
#define NGX_HTTP_FIREWORKS_STATUS_MIN       300
#define NGX_HTTP_FIREWORKS_STATUS_MAX       599

/* the longest duration a directive accepts: one day */
#define NGX_HTTP_FIREWORKS_MAX_MSEC         86400000

/*
 * an attempt's own pool: its subrequest, upstream and buffers, in address
 * space of its own (ngx_http_fireworks_pool.c)
 */
#if (NGX_HAVE_MAP_ANON)
#define NGX_HTTP_FIREWORKS_POOL_SIZE        65536
#else
#define NGX_HTTP_FIREWORKS_POOL_SIZE        8192
#endif

/* successes per second kept for the gate's pace: a ring of seconds */
#define NGX_HTTP_FIREWORKS_RATE_SECONDS     8
#define NGX_HTTP_FIREWORKS_RATE_WINDOW      5

/* a pace no refusal renewed for this long is forgotten, ms */
#define NGX_HTTP_FIREWORKS_PACE_KEEP        30000

/* the zone: worker slots, statuses and kinds per family, buckets */
#define NGX_HTTP_FIREWORKS_SLOTS            64
#define NGX_HTTP_FIREWORKS_CODES            32
#define NGX_HTTP_FIREWORKS_BUCKETS          16
#define NGX_HTTP_FIREWORKS_WORKLOADS        4
#define NGX_HTTP_FIREWORKS_OUTCOMES         8

/* fireworks_metrics_model: distinct models per route, then "other" */
#define NGX_HTTP_FIREWORKS_MODELS           16


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
    NGX_HTTP_FIREWORKS_HOLD,          /* its header held for a first event */
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
    NGX_HTTP_FIREWORKS_OUTCOME_SHUTDOWN,
    NGX_HTTP_FIREWORKS_OUTCOME_BUDGET
} ngx_http_fireworks_outcome_e;


typedef enum {
    NGX_HTTP_FIREWORKS_GATE_OFF = 0,
    NGX_HTTP_FIREWORKS_GATE_ON,          /* retries wait for the gate */
    NGX_HTTP_FIREWORKS_GATE_ALL          /* first attempts too */
} ngx_http_fireworks_gate_e;


typedef enum {
    NGX_HTTP_FIREWORKS_CLIENT_RETRY_OFF = 0,
    NGX_HTTP_FIREWORKS_CLIENT_RETRY_ON,
    NGX_HTTP_FIREWORKS_CLIENT_RETRY_AUTO
} ngx_http_fireworks_client_retry_e;


/* what an attempt ended with when the API gave no status */

typedef enum {
    NGX_HTTP_FIREWORKS_KIND_NONE = 0,
    NGX_HTTP_FIREWORKS_KIND_CONNECT_REFUSED,
    NGX_HTTP_FIREWORKS_KIND_CONNECT_TIMEOUT,
    NGX_HTTP_FIREWORKS_KIND_DNS,
    NGX_HTTP_FIREWORKS_KIND_TLS,
    NGX_HTTP_FIREWORKS_KIND_RESET,
    NGX_HTTP_FIREWORKS_KIND_TIMEOUT,
    NGX_HTTP_FIREWORKS_KIND_INVALID_HEADER,
    NGX_HTTP_FIREWORKS_KIND_DEADLINE,
    NGX_HTTP_FIREWORKS_KIND_CLIENT_CLOSED
} ngx_http_fireworks_kind_e;


typedef enum {
    NGX_HTTP_FIREWORKS_RA_HONOURED = 0,
    NGX_HTTP_FIREWORKS_RA_OVER_MAX,
    NGX_HTTP_FIREWORKS_RA_IGNORED
} ngx_http_fireworks_ra_action_e;


typedef enum {
    NGX_HTTP_FIREWORKS_CUT_NONE = 0,
    NGX_HTTP_FIREWORKS_CUT_ATTEMPT,
    NGX_HTTP_FIREWORKS_CUT_DEADLINE,
    NGX_HTTP_FIREWORKS_CUT_IDLE
} ngx_http_fireworks_cut_e;


/* the time limits a workload sets */

typedef struct {
    ngx_msec_t                    attempt_timeout;
    ngx_msec_t                    idle_timeout;
    ngx_msec_t                    deadline;
} ngx_http_fireworks_limits_t;


#define NGX_HTTP_FIREWORKS_LIMITS           3

/* the i-th of them, for loops over all three (ngx_http_fireworks_workload.c) */

#define ngx_http_fireworks_limit(l, i)                                       \
    (*(ngx_msec_t *) ((u_char *) (l) + ngx_http_fireworks_limit_offsets[i]))


/* the shared zone: one route block per route, counted by all workers */

typedef struct {
    ngx_atomic_t                  key;         /* status, or 1000 + kind */
    ngx_atomic_t                  value;
} ngx_http_fireworks_code_t;


typedef struct {
    ngx_atomic_t                  bucket[NGX_HTTP_FIREWORKS_BUCKETS];
    ngx_atomic_t                  sum;         /* ms */
} ngx_http_fireworks_hist_t;


typedef struct ngx_http_fireworks_series_s  ngx_http_fireworks_series_t;

struct ngx_http_fireworks_series_s {
    ngx_http_fireworks_series_t  *next;
    u_char                       *model;
    size_t                        model_len;

    ngx_atomic_t                  requests[NGX_HTTP_FIREWORKS_WORKLOADS]
                                          [NGX_HTTP_FIREWORKS_OUTCOMES];
    ngx_http_fireworks_code_t     responses[NGX_HTTP_FIREWORKS_CODES];
    ngx_http_fireworks_code_t     attempts[NGX_HTTP_FIREWORKS_CODES];
    ngx_http_fireworks_code_t     retries[NGX_HTTP_FIREWORKS_CODES];
    ngx_http_fireworks_code_t     fallback_attempts
                                      [NGX_HTTP_FIREWORKS_CODES];
    ngx_atomic_t                  retry_after[3];
    ngx_atomic_t                  backoff;     /* ms */
    ngx_http_fireworks_hist_t     duration[NGX_HTTP_FIREWORKS_WORKLOADS];
    ngx_http_fireworks_hist_t     header;

    /* the answers' usage (ngx_http_fireworks_usage.c) */
    ngx_atomic_t                  tokens[3];   /* prompt, completion, cached */
    ngx_http_fireworks_hist_t     ttft;        /* ms */
    ngx_http_fireworks_hist_t     tpot;        /* us */
    ngx_http_fireworks_hist_t     usage[2];    /* tokens: prompt, completion */
};


typedef struct ngx_http_fireworks_route_s  ngx_http_fireworks_route_t;

struct ngx_http_fireworks_route_s {
    ngx_http_fireworks_route_t   *next;
    u_char                       *name;
    size_t                        len;

    ngx_http_fireworks_series_t  *series;      /* the first has no model */
    ngx_uint_t                    models;      /* under the zone's lock */

    /* gauges, one per worker slot: a dead worker's are reset */
    ngx_atomic_t                  waiting[NGX_HTTP_FIREWORKS_SLOTS];
    ngx_atomic_t                  in_flight[NGX_HTTP_FIREWORKS_SLOTS];
    ngx_atomic_t                  retrying[NGX_HTTP_FIREWORKS_SLOTS];
    ngx_atomic_t                  held[NGX_HTTP_FIREWORKS_SLOTS];

    /*
     * the gate, in ngx_current_msec's clock, the same in all workers;
     * paces in requests per 1000 s (0: not pacing)
     */
    ngx_atomic_t                  gate_until;  /* closed until, ms */
    ngx_atomic_t                  gate_next;   /* the next paced start, us */
    ngx_atomic_t                  gate_rate;   /* the pace */
    ngx_atomic_t                  gate_good;   /* good: below it, a fast rise */
    ngx_atomic_t                  gate_cut;    /* the last cut, ms */
    ngx_atomic_t                  gate_ok_at;  /* the last accepted, ms */
    ngx_atomic_t                  gate_refused; /* the last refusal, ms */
    ngx_atomic_t                  gate_answer; /* accepted answers' time, ms */
    ngx_atomic_t                  gate_closed; /* ms closed in all */
    ngx_atomic_t                  ok[NGX_HTTP_FIREWORKS_RATE_SECONDS];
    ngx_atomic_t                  ko[NGX_HTTP_FIREWORKS_RATE_SECONDS];

    /* requests handed to fireworks_fallback, by the primary's outcome */
    ngx_atomic_t                  fallbacks[NGX_HTTP_FIREWORKS_OUTCOMES];
};


typedef struct {
    ngx_http_fireworks_route_t   *routes;
    ngx_atomic_t                  zone_full;
    ngx_atomic_t                  pid[NGX_HTTP_FIREWORKS_SLOTS];
} ngx_http_fireworks_shctx_t;


typedef struct {
    ngx_http_fireworks_shctx_t   *sh;
    ngx_slab_pool_t              *shpool;
    ngx_array_t                  *routes;      /* the configuration's */
} ngx_http_fireworks_zone_t;


/* a route of the configuration, and its block once the zone is mapped */

typedef struct {
    ngx_str_t                     name;
    ngx_http_fireworks_route_t   *block;
    ngx_slab_pool_t              *shpool;
    ngx_uint_t                    guard;       /* a guard directive uses it */

    /* this worker's requests the gate holds, in order, and their pacer */
    ngx_queue_t                   held;
    ngx_event_t                   pacer;
} ngx_http_fireworks_route_conf_t;


typedef struct {
    ngx_shm_zone_t               *zone;
    ngx_array_t                   routes;      /* of route_conf_t * */
    ngx_array_t                  *peers;       /* the wrapped upstreams */
    ngx_uint_t                    metrics;     /* a fireworks_metrics */
    ngx_uint_t                    scan;        /* the body's model is used */
    ngx_uint_t                    usage_vars;  /* the usage variables used */
} ngx_http_fireworks_main_conf_t;


typedef struct {
    ngx_http_complex_value_t     *pass;
    ngx_http_complex_value_t     *pass_args;     /* after a written "?" */

    ngx_int_t                     tries;
    ngx_array_t                  *retry_on;      /* of ngx_uint_t */

    ngx_http_complex_value_t     *fallback;      /* fireworks_fallback uri */
    ngx_str_t                     fallback_model; /* JSON, quoted */
    ngx_int_t                     fallback_tries;

    ngx_msec_t                    backoff_base;
    ngx_msec_t                    backoff_max;
    ngx_msec_t                    jitter;
    ngx_flag_t                    jitter_full;

    ngx_uint_t                    workload;
    ngx_http_complex_value_t     *workload_cv; /* fireworks_workload $var */
    ngx_uint_t                    vary_limits; /* from its preset: bits */
    ngx_http_fireworks_limits_t   limits;

    size_t                        inspect_size;
    ngx_flag_t                    metrics_model;
    ngx_flag_t                    metrics_otel;
    ngx_str_t                     otel_provider;
    ngx_flag_t                    hold_header;
    size_t                        hold_size;
    ngx_flag_t                    stream_error;

    ngx_flag_t                    retry_after;
    ngx_msec_t                    retry_after_max;

    ngx_str_t                     route_name;
    ngx_http_fireworks_route_conf_t  *route;

    ngx_uint_t                    budget;      /* percent, 0: off */
    ngx_uint_t                    budget_min;
    ngx_uint_t                    max_waiting; /* 0: off */
    ngx_uint_t                    gate;
    ngx_uint_t                    client_retry;
    ngx_uint_t                    log_level;   /* of the retry lines */
} ngx_http_fireworks_loc_conf_t;


/*
 * An answer's usage and timing, read as its body passes: a streaming
 * scanner of the top-level "usage" object, of the JSON body or of each
 * event's data (ngx_http_fireworks_usage.c).  Times are ms since the
 * request's arrival.
 */

typedef struct {
    ngx_msec_t                    first;       /* the first byte */
    ngx_msec_t                    last;        /* the last byte */
    uint64_t                      prompt;
    uint64_t                      completion;
    uint64_t                      cached;

    /* private: the scanner */
    ngx_uint_t                    depth;
    uint64_t                      value;       /* the number being read */
    uint64_t                      pending[3];  /* the usage object's */
    u_char                        key[24];     /* a key, its first bytes */
    u_char                        klen;
    u_char                        field;       /* of "data:" matched */
    u_char                        kid;         /* the key matched */
    u_char                        have;        /* bits of pending[] */

    /* bytes, not bits: tested and set on every byte read */
    u_char                        read;        /* keys are read here */
    u_char                        str;
    u_char                        esc;
    u_char                        keying;
    u_char                        kbad;
    u_char                        expect_key;
    u_char                        digits;
    u_char                        nbad;

    unsigned                      mode:2;      /* none, JSON, SSE */
    unsigned                      started:1;   /* first is set */
    unsigned                      has_usage:1;

    unsigned                      line:2;      /* SSE: start, data, other */
    unsigned                      cr:1;        /* the line ended in CR */
    unsigned                      event:1;     /* the event has data */
    unsigned                      space:1;     /* one space may follow */

    unsigned                      top:1;       /* the top is an object */
    unsigned                      in_usage:1;  /* depth 2 is "usage" */
    unsigned                      in_details:1;
} ngx_http_fireworks_usage_t;


typedef struct {
    u_short                       status;      /* 0: none */
    u_short                       kind;
} ngx_http_fireworks_result_t;


/*
 * What lives as long as one attempt: zeroed as each attempt starts
 * (ngx_http_fireworks_start()), given back with its pool when it ends.
 */

typedef struct {
    ngx_http_request_t           *sr;          /* NULL between attempts */
    ngx_pool_t                   *pool;        /* the attempt's own */
    ngx_http_cleanup_t           *cleanup;     /* r->cleanup before it */
    ngx_int_t                     rc;          /* what it finished with */
    ngx_uint_t                    status;      /* the API's, 0: none */
    ngx_uint_t                    kind;        /* its peer's failure */
    ngx_msec_t                    start;
    ngx_msec_t                    last_data;   /* for the idle timeout */
    ngx_buf_t                    *hold;        /* bytes held, HOLD */
    u_char                        tail[4];     /* the last bytes forwarded */
    ngx_http_fireworks_cut_e      cut;

    unsigned                      ended:1;     /* the attempt finished */
    unsigned                      complete:1;  /* with its last buffer */
    unsigned                      cut_warned:1;
    unsigned                      broken:1;    /* an answer that is no HTTP */
    unsigned                      sse:1;       /* text/event-stream */
} ngx_http_fireworks_attempt_t;


/*
 * What lives as long as the request, or as one fireworks_pass of it: one
 * ctx on the main request, and one more for each pass an error_page
 * starts.
 */

typedef struct ngx_http_fireworks_ctx_s  ngx_http_fireworks_ctx_t;

struct ngx_http_fireworks_ctx_s {
    ngx_http_request_t           *request;

    /* an earlier fireworks_pass of this request, before an error_page */
    ngx_http_fireworks_ctx_t     *prev;

    ngx_http_fireworks_attempt_t  attempt;     /* the one in progress */
    ngx_uint_t                    attempts;    /* started so far */

    ngx_http_post_subrequest_t    ps;
    ngx_event_t                   timer;       /* one meaning at a time */

    ngx_str_t                     uri;
    ngx_str_t                     args;

    ngx_http_fireworks_limits_t   limits;      /* this request's */
    ngx_msec_t                    deadline;    /* absolute, 0: none */
    ngx_msec_t                    wait_start;
    ngx_msec_t                    waited;      /* all backoff waits */
    ngx_msec_t                    delay;       /* the wait decided on */

    ngx_array_t                   results;     /* of result_t */
    ngx_http_fireworks_result_t   last;        /* the last attempt's */
    ngx_uint_t                    states;      /* ended attempts' states */
    ngx_uint_t                    answer;      /* a give-up's status */
    ngx_msec_t                    time;        /* the pass's, at give-up */

    ngx_http_fireworks_route_t   *route;       /* NULL: no zone */
    ngx_http_fireworks_series_t  *series;      /* the route's, or a model's */
    ngx_slab_pool_t              *shpool;
    ngx_uint_t                    slot;
    ngx_uint_t                    workload;
    ngx_msec_t                    gate_wait;   /* held by the gate, in all */
    ngx_msec_t                    held_at;     /* in the gate's queue since */
    ngx_queue_t                   queue;       /* in the route's held */
    ngx_str_t                     model;       /* the body's "model" */
    ngx_http_fireworks_json_t    *js;          /* the body's scan */
    off_t                         inspect_left; /* bytes it may still see */

    ngx_uint_t                    fallback_from; /* attempts before it */
    ngx_http_request_body_t      *fallback_body; /* with its model */
    off_t                         fallback_length;
    ngx_http_fireworks_usage_t   *usage;       /* NULL: not read */

    ngx_http_fireworks_state_e    state;
    ngx_http_fireworks_outcome_e  outcome;

    unsigned                      in_flight:1; /* counted in the gauges */
    unsigned                      waiting:1;
    unsigned                      retrying:1;
    unsigned                      held:1;
    unsigned                      queued:1;    /* in the gate's queue */
    unsigned                      granted:1;   /* the pacer gave it a start */
    unsigned                      over_budget:1; /* held for a paced start */
    unsigned                      body_read:1;
    unsigned                      inspected:1; /* the body was looked at */
    unsigned                      scan_done:1; /* it has seen enough */
    unsigned                      scan_failed:1; /* no JSON object */
    unsigned                      scan_cut:1;  /* stopped at the limit */
    unsigned                      stream:1;    /* "stream": true */
    unsigned                      gave_up:1;   /* the answer is nginx's */
    unsigned                      fallback_next:1; /* next attempts: it */
    unsigned                      fallback:1;  /* this attempt is its */
};


ngx_int_t ngx_http_fireworks_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_fireworks_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_fireworks_rewrite_handler(ngx_http_request_t *r);

ngx_msec_t ngx_http_fireworks_backoff(ngx_http_fireworks_loc_conf_t *flcf,
    ngx_uint_t retry);
ngx_msec_t ngx_http_fireworks_jitter(ngx_http_fireworks_loc_conf_t *flcf);
ngx_int_t ngx_http_fireworks_retry_after(ngx_http_request_t *sr,
    ngx_msec_t *ms);

ngx_int_t ngx_http_fireworks_add_variables(ngx_conf_t *cf);
void ngx_http_fireworks_request_workload(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_fireworks_loc_conf_t *flcf);
ngx_http_fireworks_outcome_e ngx_http_fireworks_fallback_switch(
    ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t status, ngx_http_fireworks_outcome_e outcome);
ngx_int_t ngx_http_fireworks_fallback_start(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
ngx_int_t ngx_http_fireworks_fallback_body(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_http_request_t *sr);

ngx_int_t ngx_http_fireworks_inspect_init(ngx_conf_t *cf);
ngx_int_t ngx_http_fireworks_inspect_start(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);
void ngx_http_fireworks_inspect(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx);

char *ngx_http_fireworks_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_fireworks_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_fireworks_route_conf(ngx_conf_t *cf,
    ngx_http_fireworks_loc_conf_t *flcf);
ngx_pool_t *ngx_http_fireworks_pool_get(ngx_log_t *log);
void ngx_http_fireworks_pool_put(ngx_pool_t *pool);
void ngx_http_fireworks_pool_free(void);
ngx_int_t ngx_http_fireworks_zone_init_process(ngx_cycle_t *cycle);
void ngx_http_fireworks_zone_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_fireworks_log_handler(ngx_http_request_t *r);
ngx_msec_t ngx_http_fireworks_request_time(ngx_http_request_t *r);

void ngx_http_fireworks_count_start(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_loc_conf_t *flcf);
void ngx_http_fireworks_count_attempt(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_result_t *res, ngx_uint_t retry);
void ngx_http_fireworks_count_header(ngx_http_fireworks_ctx_t *ctx);
void ngx_http_fireworks_count_fallback(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_outcome_e outcome);
void ngx_http_fireworks_count_retry_after(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_ra_action_e action);
void ngx_http_fireworks_count_backoff(ngx_http_fireworks_ctx_t *ctx,
    ngx_msec_t waited);
ngx_int_t ngx_http_fireworks_gauge_add(ngx_http_fireworks_ctx_t *ctx,
    ngx_atomic_t *gauge, ngx_int_t n);
ngx_atomic_int_t ngx_http_fireworks_gauge_sum(ngx_atomic_t *gauge);

ngx_http_fireworks_outcome_e ngx_http_fireworks_guard_retry(
    ngx_http_request_t *r, ngx_http_fireworks_ctx_t *ctx, ngx_msec_t *delay);
ngx_int_t ngx_http_fireworks_guard_hold(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_msec_t *delay);
void ngx_http_fireworks_guard_answer(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status);
void ngx_http_fireworks_guard_release(ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t all);
ngx_int_t ngx_http_fireworks_client_retry(ngx_http_request_t *r,
    ngx_http_fireworks_ctx_t *ctx, ngx_uint_t status);
ngx_msec_t ngx_http_fireworks_gate_left(ngx_http_fireworks_ctx_t *ctx);
ngx_atomic_uint_t ngx_http_fireworks_gate_pace(
    ngx_http_fireworks_route_t *route);

ngx_uint_t ngx_http_fireworks_encoded(ngx_http_request_t *sr);
ngx_uint_t ngx_http_fireworks_usage_used(ngx_conf_t *cf);
ngx_int_t ngx_http_fireworks_usage_variables(ngx_conf_t *cf);
void ngx_http_fireworks_usage_feed(ngx_http_request_t *sr,
    ngx_http_fireworks_ctx_t *ctx, ngx_chain_t *in);
void ngx_http_fireworks_count_usage(ngx_http_fireworks_ctx_t *ctx);

ngx_int_t ngx_http_fireworks_peer_init_main(ngx_conf_t *cf,
    ngx_http_fireworks_main_conf_t *fmcf);

extern ngx_str_t  ngx_http_fireworks_kinds[];

/* histogram upper bounds, ms (tpot: us; tokens: tokens) */
extern ngx_msec_t  ngx_http_fireworks_duration_bounds[];
extern ngx_msec_t  ngx_http_fireworks_header_bounds[];
extern ngx_msec_t  ngx_http_fireworks_ttft_bounds[];
extern ngx_msec_t  ngx_http_fireworks_tpot_bounds[];
extern ngx_msec_t  ngx_http_fireworks_token_bounds[];
extern ngx_str_t  ngx_http_fireworks_outcomes[];
extern ngx_str_t  ngx_http_fireworks_workloads[];

extern ngx_http_fireworks_limits_t  ngx_http_fireworks_presets[];
extern size_t  ngx_http_fireworks_limit_offsets[];


extern ngx_module_t  ngx_http_fireworks_module;


#endif /* _NGX_HTTP_FIREWORKS_MODULE_H_INCLUDED_ */
