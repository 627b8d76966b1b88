
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * Directives, configuration merging and module registration.
 */


#include "ngx_http_fireworks_module.h"


static void *ngx_http_fireworks_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_fireworks_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_fireworks_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fireworks_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_msec_t ngx_http_fireworks_merge_limit(ngx_msec_t conf,
    ngx_msec_t prev, ngx_uint_t workload, ngx_uint_t prev_workload,
    ngx_uint_t limit);
static ngx_int_t ngx_http_fireworks_preconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_fireworks_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_fireworks_init_process(ngx_cycle_t *cycle);
static void ngx_http_fireworks_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_fireworks_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fireworks_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_complex_value_t *ngx_http_fireworks_compile(ngx_conf_t *cf,
    ngx_str_t *value);
static char *ngx_http_fireworks_retry_on(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fireworks_backoff_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fireworks_jitter_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fireworks_workload(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_fireworks_parse_msec(ngx_conf_t *cf,
    ngx_str_t *value, ngx_msec_t *ms);

static char *ngx_http_fireworks_retry_budget(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fireworks_max_waiting(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fireworks_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fireworks_num_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fireworks_msec_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fireworks_inspect_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fireworks_size_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fireworks_slot_error(ngx_conf_t *cf, char *rv,
    char *what);
static char *ngx_http_fireworks_tries_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_fireworks_msec_bounds(ngx_conf_t *cf, void *post,
    void *data);


static ngx_uint_t  ngx_http_fireworks_default_statuses[] = {
    429, 500, 502, 503, 504
};


static ngx_array_t  ngx_http_fireworks_default_retry_on = {
    ngx_http_fireworks_default_statuses,
    sizeof(ngx_http_fireworks_default_statuses) / sizeof(ngx_uint_t),
    sizeof(ngx_uint_t),
    sizeof(ngx_http_fireworks_default_statuses) / sizeof(ngx_uint_t),
    NULL
};


static ngx_conf_enum_t  ngx_http_fireworks_gates[] = {
    { ngx_string("off"), NGX_HTTP_FIREWORKS_GATE_OFF },
    { ngx_string("on"), NGX_HTTP_FIREWORKS_GATE_ON },
    { ngx_string("all"), NGX_HTTP_FIREWORKS_GATE_ALL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_fireworks_client_retries[] = {
    { ngx_string("off"), NGX_HTTP_FIREWORKS_CLIENT_RETRY_OFF },
    { ngx_string("on"), NGX_HTTP_FIREWORKS_CLIENT_RETRY_ON },
    { ngx_string("auto"), NGX_HTTP_FIREWORKS_CLIENT_RETRY_AUTO },
    { ngx_null_string, 0 }
};


/* the levels limit_req_log_level takes */

static ngx_conf_enum_t  ngx_http_fireworks_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_post_handler_pt  ngx_http_fireworks_tries_post =
    ngx_http_fireworks_tries_bounds;

static ngx_conf_post_handler_pt  ngx_http_fireworks_msec_post =
    ngx_http_fireworks_msec_bounds;


static ngx_command_t  ngx_http_fireworks_commands[] = {

    { ngx_string("fireworks_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_fallback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_fireworks_fallback,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, tries),
      &ngx_http_fireworks_tries_post },

    { ngx_string("fireworks_retry_on"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_fireworks_retry_on,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_backoff"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_fireworks_backoff_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_jitter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_jitter_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_workload"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_workload,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, workload),
      NULL },

    { ngx_string("fireworks_deadline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, limits.deadline),
      &ngx_http_fireworks_msec_post },

    { ngx_string("fireworks_attempt_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, limits.attempt_timeout),
      &ngx_http_fireworks_msec_post },

    { ngx_string("fireworks_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, limits.idle_timeout),
      &ngx_http_fireworks_msec_post },

    { ngx_string("fireworks_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, retry_after),
      NULL },

    { ngx_string("fireworks_retry_after_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, retry_after_max),
      &ngx_http_fireworks_msec_post },

    { ngx_string("fireworks_retry_budget"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_fireworks_retry_budget,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_max_waiting"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_max_waiting,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, max_waiting),
      NULL },

    { ngx_string("fireworks_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, log_level),
      &ngx_http_fireworks_log_levels },

    { ngx_string("fireworks_gate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, gate),
      &ngx_http_fireworks_gates },

    { ngx_string("fireworks_client_retry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, client_retry),
      &ngx_http_fireworks_client_retries },

    { ngx_string("fireworks_inspect_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_inspect_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, inspect_size),
      NULL },

    { ngx_string("fireworks_metrics_model"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, metrics_model),
      NULL },

    { ngx_string("fireworks_metrics_otel"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, metrics_otel),
      NULL },

    { ngx_string("fireworks_metrics_otel_provider"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, otel_provider),
      NULL },

    { ngx_string("fireworks_hold_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, hold_header),
      NULL },

    { ngx_string("fireworks_hold_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fireworks_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, hold_size),
      NULL },

    { ngx_string("fireworks_stream_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, stream_error),
      NULL },

    { ngx_string("fireworks_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_fireworks_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fireworks_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fireworks_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fireworks_loc_conf_t, route_name),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fireworks_module_ctx = {
    ngx_http_fireworks_preconf,            /* preconfiguration */
    ngx_http_fireworks_init,               /* postconfiguration */

    ngx_http_fireworks_create_main_conf,   /* create main configuration */
    ngx_http_fireworks_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fireworks_create_loc_conf,    /* create location configuration */
    ngx_http_fireworks_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_fireworks_module = {
    NGX_MODULE_V1,
    &ngx_http_fireworks_module_ctx,        /* module context */
    ngx_http_fireworks_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_fireworks_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_fireworks_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_fireworks_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fireworks_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     fmcf->zone = NULL;
     *     fmcf->peers = NULL;
     *     fmcf->metrics = 0;
     *     fmcf->scan = 0;
     *     fmcf->usage_vars = 0;
     */

    if (ngx_array_init(&fmcf->routes, cf->pool, 4,
                       sizeof(ngx_http_fireworks_route_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return fmcf;
}


/* after the upstream module's: every upstream's peer.init is set */

static char *
ngx_http_fireworks_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_fireworks_main_conf_t *fmcf = conf;

    if (ngx_http_fireworks_peer_init_main(cf, fmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_fireworks_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fireworks_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fireworks_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->pass = NULL;
     *     conf->pass_args = NULL;
     *     conf->fallback = NULL;
     *     conf->fallback_model = { 0, NULL };
     *     conf->route_name = { 0, NULL };
     *     conf->route = NULL;
     *     conf->workload_cv = NULL;
     *     conf->vary_limits = 0;
     */

    conf->tries = NGX_CONF_UNSET;
    conf->fallback_tries = NGX_CONF_UNSET;
    conf->retry_on = NGX_CONF_UNSET_PTR;
    conf->backoff_base = NGX_CONF_UNSET_MSEC;
    conf->backoff_max = NGX_CONF_UNSET_MSEC;
    conf->jitter = NGX_CONF_UNSET_MSEC;
    conf->jitter_full = NGX_CONF_UNSET;
    conf->workload = NGX_CONF_UNSET_UINT;
    conf->limits.deadline = NGX_CONF_UNSET_MSEC;
    conf->limits.attempt_timeout = NGX_CONF_UNSET_MSEC;
    conf->limits.idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->inspect_size = NGX_CONF_UNSET_SIZE;
    conf->metrics_model = NGX_CONF_UNSET;
    conf->metrics_otel = NGX_CONF_UNSET;
    conf->hold_header = NGX_CONF_UNSET;
    conf->hold_size = NGX_CONF_UNSET_SIZE;
    conf->stream_error = NGX_CONF_UNSET;
    conf->retry_after = NGX_CONF_UNSET;
    conf->retry_after_max = NGX_CONF_UNSET_MSEC;
    conf->budget = NGX_CONF_UNSET_UINT;
    conf->budget_min = NGX_CONF_UNSET_UINT;
    conf->max_waiting = NGX_CONF_UNSET_UINT;
    conf->gate = NGX_CONF_UNSET_UINT;
    conf->client_retry = NGX_CONF_UNSET_UINT;
    conf->log_level = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_fireworks_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_fireworks_loc_conf_t *prev = parent;
    ngx_http_fireworks_loc_conf_t *conf = child;

    ngx_uint_t                       i, vary;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_fireworks_main_conf_t  *fmcf;

    if (conf->pass == NULL) {
        conf->pass = prev->pass;
        conf->pass_args = prev->pass_args;
        conf->route = prev->route;

    } else if (conf->pass != prev->pass) {

        /*
         * A proxy_pass (or any content handler) set after fireworks_pass
         * in the same location would silently take its place: no retry
         * would ever happen.  Controllers' location snippets do that.
         */

        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->handler != ngx_http_fireworks_handler) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"fireworks_pass\" and another content "
                               "handler (such as \"proxy_pass\") in the "
                               "location \"%V\"", &clcf->name);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_fireworks_route_conf(cf, conf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_merge_value(conf->tries, prev->tries, 5);

    if (conf->fallback == NULL) {
        conf->fallback = prev->fallback;
        conf->fallback_model = prev->fallback_model;
        conf->fallback_tries = prev->fallback_tries;
    }

    if (conf->fallback != NULL && conf->pass == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"fireworks_fallback\" needs \"fireworks_pass\" "
                           "in the location");
        return NGX_CONF_ERROR;
    }

    /* the fallback's tries: fireworks_tries unless tries= says */

    if (conf->fallback_tries == NGX_CONF_UNSET) {
        conf->fallback_tries = conf->tries;
    }

    ngx_conf_merge_ptr_value(conf->retry_on, prev->retry_on,
                             &ngx_http_fireworks_default_retry_on);

    /* base and max are one setting: a level that sets base sets both */

    if (conf->backoff_base == NGX_CONF_UNSET_MSEC) {
        conf->backoff_base = prev->backoff_base;
        conf->backoff_max = prev->backoff_max;
    }

    if (conf->backoff_base == NGX_CONF_UNSET_MSEC) {
        conf->backoff_base = 1000;
    }

    if (conf->backoff_max == NGX_CONF_UNSET_MSEC) {
        conf->backoff_max = ngx_max(30000, conf->backoff_base);
    }

    if (conf->jitter == NGX_CONF_UNSET_MSEC) {
        conf->jitter = prev->jitter;
        conf->jitter_full = prev->jitter_full;
    }

    if (conf->jitter == NGX_CONF_UNSET_MSEC) {
        conf->jitter = 1000;
        conf->jitter_full = 0;
    }

    /*
     * A workload preset and the explicit limits merge level by level: at
     * each level an explicit value beats the preset of the same level, and
     * whatever a level sets beats what it inherits, so a workload named in
     * a location overrides a limit set at server level.  A workload given
     * by a variable is the inherited one at configuration time; the limits
     * that come from its preset are marked, and each request takes them
     * from the preset of the workload the variable names.
     */

    vary = 0;

    if (conf->workload_cv != NULL && conf->workload == NGX_CONF_UNSET_UINT) {

        for (i = 0; i < NGX_HTTP_FIREWORKS_LIMITS; i++) {
            if (ngx_http_fireworks_limit(&conf->limits, i)
                == NGX_CONF_UNSET_MSEC)
            {
                vary |= 1 << i;
            }
        }

        conf->workload = (prev->workload == NGX_CONF_UNSET_UINT)
                         ? NGX_HTTP_FIREWORKS_INTERACTIVE : prev->workload;

    } else if (conf->workload == NGX_CONF_UNSET_UINT) {

        conf->workload_cv = prev->workload_cv;

        for (i = 0; i < NGX_HTTP_FIREWORKS_LIMITS; i++) {
            if (ngx_http_fireworks_limit(&conf->limits, i)
                == NGX_CONF_UNSET_MSEC)
            {
                vary |= prev->vary_limits & (1 << i);
            }
        }
    }

    conf->vary_limits = vary;

    for (i = 0; i < NGX_HTTP_FIREWORKS_LIMITS; i++) {
        ngx_http_fireworks_limit(&conf->limits, i) =
            ngx_http_fireworks_merge_limit(
                ngx_http_fireworks_limit(&conf->limits, i),
                ngx_http_fireworks_limit(&prev->limits, i),
                conf->workload, prev->workload, i);
    }

    ngx_conf_merge_uint_value(conf->workload, prev->workload,
                              NGX_HTTP_FIREWORKS_INTERACTIVE);

    /* the whole body: it is scanned as it is read, in constant memory */

    ngx_conf_merge_size_value(conf->inspect_size, prev->inspect_size,
                              NGX_MAX_SIZE_T_VALUE);
    ngx_conf_merge_value(conf->metrics_model, prev->metrics_model, 0);

    if (conf->metrics_model) {
        fmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_fireworks_module);
        fmcf->scan = 1;
    }
    ngx_conf_merge_value(conf->metrics_otel, prev->metrics_otel, 0);
    ngx_conf_merge_str_value(conf->otel_provider, prev->otel_provider,
                             "fireworks");
    ngx_conf_merge_value(conf->hold_header, prev->hold_header, 0);
    ngx_conf_merge_size_value(conf->hold_size, prev->hold_size, 16384);
    ngx_conf_merge_value(conf->stream_error, prev->stream_error, 0);

    ngx_conf_merge_value(conf->retry_after, prev->retry_after, 1);
    ngx_conf_merge_msec_value(conf->retry_after_max, prev->retry_after_max,
                              60000);

    /* the budget's percent and minimum are one setting, as the backoff's */

    if (conf->budget == NGX_CONF_UNSET_UINT) {
        conf->budget = prev->budget;
        conf->budget_min = prev->budget_min;
    }

    ngx_conf_merge_uint_value(conf->budget, prev->budget, 0);
    ngx_conf_init_uint_value(conf->budget_min, 3);
    ngx_conf_merge_uint_value(conf->max_waiting, prev->max_waiting, 0);
    ngx_conf_merge_uint_value(conf->gate, prev->gate,
                              NGX_HTTP_FIREWORKS_GATE_OFF);
    ngx_conf_merge_uint_value(conf->client_retry, prev->client_retry,
                              NGX_HTTP_FIREWORKS_CLIENT_RETRY_OFF);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level,
                              NGX_LOG_INFO);

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_fireworks_module);

    if (fmcf->zone == NULL
        && (conf->budget || conf->max_waiting
            || conf->gate != NGX_HTTP_FIREWORKS_GATE_OFF))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"fireworks_retry_budget\", "
                           "\"fireworks_max_waiting\" and \"fireworks_gate\" "
                           "need a \"fireworks_zone\" in the http block");
        return NGX_CONF_ERROR;
    }

    /* a guarded route must get its block in the zone: see init_zone */

    if (conf->route != NULL
        && (conf->budget || conf->max_waiting
            || conf->gate != NGX_HTTP_FIREWORKS_GATE_OFF))
    {
        conf->route->guard = 1;
    }

    return NGX_CONF_OK;
}


static ngx_msec_t
ngx_http_fireworks_merge_limit(ngx_msec_t conf, ngx_msec_t prev,
    ngx_uint_t workload, ngx_uint_t prev_workload, ngx_uint_t limit)
{
    if (conf != NGX_CONF_UNSET_MSEC) {
        return conf;
    }

    if (workload == NGX_CONF_UNSET_UINT) {

        if (prev != NGX_CONF_UNSET_MSEC) {
            return prev;
        }

        /* the http level is never merged itself: resolve its preset here */

        workload = (prev_workload == NGX_CONF_UNSET_UINT)
                   ? NGX_HTTP_FIREWORKS_INTERACTIVE : prev_workload;
    }

    return ngx_http_fireworks_limit(&ngx_http_fireworks_presets[workload],
                                    limit);
}


static ngx_int_t
ngx_http_fireworks_preconf(ngx_conf_t *cf)
{
    return ngx_http_fireworks_add_variables(cf);
}


static ngx_int_t
ngx_http_fireworks_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_fireworks_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* an attempt's first phase after its location was found */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_fireworks_rewrite_handler;

    /* the usage of answers is read only where it is looked at */

    fmcf->usage_vars = ngx_http_fireworks_usage_used(cf);

    if (fmcf->zone == NULL) {

        if (fmcf->metrics) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"fireworks_metrics\" needs a "
                               "\"fireworks_zone\" in the http block");
            return NGX_ERROR;
        }

        goto filters;
    }

    /* the request is counted as finished where it is logged */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_fireworks_log_handler;

filters:

    if (ngx_http_fireworks_inspect_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_fireworks_filter_init(cf);
}


static ngx_int_t
ngx_http_fireworks_init_process(ngx_cycle_t *cycle)
{
    return ngx_http_fireworks_zone_init_process(cycle);
}


static void
ngx_http_fireworks_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_fireworks_zone_exit_process(cycle);
    ngx_http_fireworks_pool_free();
}


/*
 * fireworks_fallback uri [model=name] [tries=N]: the model is kept JSON
 * escaped, as it goes into the body, quotes included.
 */

static char *
ngx_http_fireworks_fallback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    u_char                          *p;
    size_t                           len;
    ngx_int_t                        n;
    ngx_str_t                       *value, model;
    ngx_uint_t                       i;
    ngx_http_fireworks_main_conf_t  *fmcf;

    if (flcf->fallback != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid uri \"%V\" in \"%V\" directive, "
                           "it must start with \"/\"", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    flcf->fallback = ngx_http_fireworks_compile(cf, &value[1]);
    if (flcf->fallback == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "tries=", 6) == 0
            && flcf->fallback_tries == NGX_CONF_UNSET)
        {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n < 1 || n > NGX_HTTP_FIREWORKS_MAX_TRIES) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"%V\" directive, "
                                   "it must be from 1 to %d", &value[i],
                                   &cmd->name, NGX_HTTP_FIREWORKS_MAX_TRIES);
                return NGX_CONF_ERROR;
            }

            flcf->fallback_tries = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "model=", 6) == 0
            && value[i].len > 6 && flcf->fallback_model.data == NULL)
        {
            model.data = value[i].data + 6;
            model.len = value[i].len - 6;

            len = 2 + model.len + ngx_escape_json(NULL, model.data, model.len);

            p = ngx_pnalloc(cf->pool, len);
            if (p == NULL) {
                return NGX_CONF_ERROR;
            }

            flcf->fallback_model.data = p;

            *p++ = '"';
            p = (u_char *) ngx_escape_json(p, model.data, model.len);
            *p++ = '"';

            flcf->fallback_model.len = p - flcf->fallback_model.data;

            /* the model's place in the body is found as it is read */

            fmcf = ngx_http_conf_get_module_main_conf(cf,
                                                   ngx_http_fireworks_module);
            fmcf->scan = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fireworks_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    u_char                    *q;
    ngx_str_t                 *value, uri, args;
    ngx_http_core_loc_conf_t  *clcf;

    if (flcf->pass != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid uri \"%V\" in \"%V\" directive, "
                           "it must start with \"/\"", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /*
     * Split at the "?" written here, not at run time: a "?" that a
     * variable brings ($uri is decoded: a client's "%3F") is path.
     */

    uri = value[1];

    q = ngx_strlchr(uri.data, uri.data + uri.len, '?');

    if (q != NULL) {
        args.data = q + 1;
        args.len = uri.data + uri.len - args.data;
        uri.len = q - uri.data;

        flcf->pass_args = ngx_http_fireworks_compile(cf, &args);
        if (flcf->pass_args == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    flcf->pass = ngx_http_fireworks_compile(cf, &uri);
    if (flcf->pass == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_fireworks_handler;

    return NGX_CONF_OK;
}


static ngx_http_complex_value_t *
ngx_http_fireworks_compile(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NULL;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    return cv;
}


static char *
ngx_http_fireworks_retry_on(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t   i, *s;

    if (flcf->retry_on != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    flcf->retry_on = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                      sizeof(ngx_uint_t));
    if (flcf->retry_on == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        n = ngx_atoi(value[i].data, value[i].len);

        if (n < NGX_HTTP_FIREWORKS_STATUS_MIN
            || n > NGX_HTTP_FIREWORKS_STATUS_MAX)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\" in \"%V\" directive, "
                               "it must be a number from %d to %d",
                               &value[i], &cmd->name,
                               NGX_HTTP_FIREWORKS_STATUS_MIN,
                               NGX_HTTP_FIREWORKS_STATUS_MAX);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(flcf->retry_on);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = n;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fireworks_backoff_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    ngx_str_t  *value;

    if (flcf->backoff_base != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_fireworks_parse_msec(cf, &value[1], &flcf->backoff_base)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_http_fireworks_parse_msec(cf, &value[2], &flcf->backoff_max)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (flcf->backoff_max < flcf->backoff_base) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "max must not be less than base \"%V\"",
                           &value[2], &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fireworks_jitter_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    ngx_str_t  *value;

    if (flcf->jitter != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 4 && ngx_strncmp(value[1].data, "full", 4) == 0) {
        flcf->jitter = 0;
        flcf->jitter_full = 1;
        return NGX_CONF_OK;
    }

    flcf->jitter_full = 0;

    if (ngx_http_fireworks_parse_msec(cf, &value[1], &flcf->jitter)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fireworks_workload(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (flcf->workload != NGX_CONF_UNSET_UINT || flcf->workload_cv != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_script_variables_count(&value[1])) {
        flcf->workload_cv = ngx_http_fireworks_compile(cf, &value[1]);
        return flcf->workload_cv ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    for (i = 0; ngx_http_fireworks_workloads[i].len; i++) {
        if (value[1].len == ngx_http_fireworks_workloads[i].len
            && ngx_strncmp(value[1].data, ngx_http_fireworks_workloads[i].data,
                           value[1].len)
               == 0)
        {
            flcf->workload = i;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must be "
                       "\"interactive\", \"agentic\", \"long_context\", "
                       "\"batch\" or a variable", &value[1], &cmd->name);

    return NGX_CONF_ERROR;
}


/* fireworks_retry_budget off | percent% [min=N] */

static char *
ngx_http_fireworks_retry_budget(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (flcf->budget != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {

        if (cf->args->nelts == 3) {
            goto invalid_min;
        }

        flcf->budget = 0;
        return NGX_CONF_OK;
    }

    n = NGX_ERROR;

    if (value[1].len > 1 && value[1].data[value[1].len - 1] == '%') {
        n = ngx_atoi(value[1].data, value[1].len - 1);
    }

    if (n < 1 || n > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"off\" or a percent from 1%% to "
                           "100%%", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    flcf->budget = n;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    n = NGX_ERROR;

    if (value[2].len > 4 && ngx_strncmp(value[2].data, "min=", 4) == 0) {
        n = ngx_atoi(value[2].data + 4, value[2].len - 4);
    }

    if (n != NGX_ERROR && n <= 1000000) {
        flcf->budget_min = n;
        return NGX_CONF_OK;
    }

invalid_min:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive, "
                       "it must be \"min=\" and a number after a percent",
                       &value[2], &cmd->name);

    return NGX_CONF_ERROR;
}


/* fireworks_max_waiting off | number */

static char *
ngx_http_fireworks_max_waiting(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fireworks_loc_conf_t *flcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (flcf->max_waiting != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        flcf->max_waiting = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > 10000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"off\" or a number from 1",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    flcf->max_waiting = n;

    return NGX_CONF_OK;
}


/* nginx's enum slot, with a message that names the directive and the value */

static char *
ngx_http_fireworks_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char           *p, buf[128];
    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_conf_enum_t  *e;

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcmp(e[i].name.data, value[1].data) == 0)
        {
            return ngx_conf_set_enum_slot(cf, cmd, conf);
        }
    }

    p = buf;

    for (i = 0; e[i].name.len; i++) {
        p = ngx_slprintf(p, buf + sizeof(buf), "%s\"%V\"",
                         i == 0 ? "" : e[i + 1].name.len ? ", " : " or ",
                         &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be %*s", &value[1], &cmd->name,
                       p - buf, buf);

    return NGX_CONF_ERROR;
}


/*
 * Durations are read by ngx_parse_time(), as nginx's own, and bounded by
 * NGX_HTTP_FIREWORKS_MAX_MSEC, so that no computed wait can overflow the
 * timer.
 */

static ngx_int_t
ngx_http_fireworks_parse_msec(ngx_conf_t *cf, ngx_str_t *value,
    ngx_msec_t *ms)
{
    ngx_str_t  *name;

    name = cf->args->elts;

    *ms = ngx_parse_time(value, 0);

    if (*ms == (ngx_msec_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\" in \"%V\" directive",
                           value, &name[0]);
        return NGX_ERROR;
    }

    if (*ms > NGX_HTTP_FIREWORKS_MAX_MSEC) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\" in \"%V\" directive, "
                           "it must not be longer than 24h", value, &name[0]);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * nginx's slots parse; these wrappers only make the message name the
 * value as well as the directive: invalid time "x" in "y" directive.
 */

static char *
ngx_http_fireworks_num_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_fireworks_slot_error(cf,
                                         ngx_conf_set_num_slot(cf, cmd, conf),
                                         "value");
}


static char *
ngx_http_fireworks_msec_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_fireworks_slot_error(cf,
                                         ngx_conf_set_msec_slot(cf, cmd, conf),
                                         "time");
}


/* fireworks_inspect_size: a size, or "unlimited" (the default) */

static char *
ngx_http_fireworks_inspect_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    size_t     *sp;
    ngx_str_t  *value;

    sp = (size_t *) ((u_char *) conf + cmd->offset);
    value = cf->args->elts;

    if (value[1].len != sizeof("unlimited") - 1
        || ngx_strncmp(value[1].data, "unlimited", value[1].len) != 0)
    {
        return ngx_http_fireworks_slot_error(cf,
                                             ngx_conf_set_size_slot(cf, cmd,
                                                                    conf),
                                             "size");
    }

    if (*sp != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    *sp = NGX_MAX_SIZE_T_VALUE;

    return NGX_CONF_OK;
}


/* sizes: nginx's slot, bounded at 16m (bytes held) */

static char *
ngx_http_fireworks_size_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char       *rv;
    size_t     *sp;
    ngx_str_t  *value;

    rv = ngx_http_fireworks_slot_error(cf,
                                       ngx_conf_set_size_slot(cf, cmd, conf),
                                       "size");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    sp = (size_t *) ((u_char *) conf + cmd->offset);

    if (*sp > 16 * 1024 * 1024) {
        value = cf->args->elts;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\" directive, "
                           "it must not be more than 16m",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fireworks_slot_error(ngx_conf_t *cf, char *rv, char *what)
{
    ngx_str_t  *value;

    if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR
        || ngx_strcmp(rv, "is duplicate") == 0)
    {
        return rv;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid %s \"%V\" in \"%V\" directive",
                       what, &value[1], &value[0]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_fireworks_tries_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_int_t  *np = data;

    ngx_str_t  *value;

    if (*np >= 1 && *np <= NGX_HTTP_FIREWORKS_MAX_TRIES) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be a number from 1 to %d",
                       &value[1], &value[0], NGX_HTTP_FIREWORKS_MAX_TRIES);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_fireworks_msec_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *msp = data;

    ngx_str_t  *value;

    if (*msp <= NGX_HTTP_FIREWORKS_MAX_MSEC) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must not be longer than 24h",
                       &value[1], &value[0]);

    return NGX_CONF_ERROR;
}
