
/*
 * Copyright (C) ngx_fireworks_module authors
 *
 * The shared zone: its directive and shared memory, the workers' slots,
 * and the counting from the request flow.  What it counts is rendered
 * for Prometheus in ngx_http_fireworks_metrics.c.
 *
 * Each route of the configuration has a block in the zone, found by name,
 * so that a reload with the same zone keeps the counts.  Counters are
 * atomics, added to without a lock; statuses and failure kinds take a
 * slot of a small table the first time they are seen (a compare and set,
 * never freed).  Gauges are kept per worker slot: a worker claims a slot
 * when it starts, and a slot whose process has died is reset by the next
 * worker that claims one, so a killed worker leaves nothing stuck.  The
 * zone's mutex is only taken to add a route or a series.
 */


#include "ngx_http_fireworks_module.h"


static ngx_int_t ngx_http_fireworks_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_fireworks_route_t *ngx_http_fireworks_route_block(
    ngx_http_fireworks_zone_t *zone, ngx_str_t *name, ngx_log_t *log);
static ngx_http_fireworks_series_t *ngx_http_fireworks_series_alloc(
    ngx_slab_pool_t *shpool, u_char *model, size_t len);
static ngx_http_fireworks_series_t *ngx_http_fireworks_model_series(
    ngx_http_fireworks_ctx_t *ctx);
static ngx_http_fireworks_series_t *ngx_http_fireworks_find_series(
    ngx_http_fireworks_route_t *route, ngx_str_t *model);
static void ngx_http_fireworks_zone_full(ngx_http_fireworks_shctx_t *sh,
    ngx_log_t *log);
static void ngx_http_fireworks_count_end(ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t status, ngx_msec_t ms);
static void ngx_http_fireworks_code_add(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_code_t *codes, ngx_uint_t key);
static void ngx_http_fireworks_observe(ngx_http_fireworks_hist_t *h,
    ngx_msec_t *bounds, ngx_msec_t ms);


/* this worker's slot in the zone, NGX_HTTP_FIREWORKS_SLOTS if none */
static ngx_uint_t  ngx_http_fireworks_slot = NGX_HTTP_FIREWORKS_SLOTS;


/* histogram upper bounds, ms: LLM calls take 0.1 s to 30 min */

ngx_msec_t  ngx_http_fireworks_duration_bounds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000,
    300000, 600000, 1200000, 1800000, 0
};

ngx_msec_t  ngx_http_fireworks_header_bounds[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000,
    300000, 600000, 0
};

/* time to first token, ms: 0.05 s to 120 s */

ngx_msec_t  ngx_http_fireworks_ttft_bounds[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000,
    0
};

/* time per output token, us: OpenTelemetry's advice, 0.01 s to 2.5 s */

ngx_msec_t  ngx_http_fireworks_tpot_bounds[] = {
    10000, 25000, 50000, 75000, 100000, 150000, 200000, 300000, 400000,
    500000, 750000, 1000000, 2500000, 0
};

/* tokens per answer: OpenTelemetry's advice, powers of 4 */

ngx_msec_t  ngx_http_fireworks_token_bounds[] = {
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
    16777216, 67108864, 0
};


ngx_str_t  ngx_http_fireworks_kinds[] = {
    ngx_string(""),
    ngx_string("connect_refused"),
    ngx_string("connect_timeout"),
    ngx_string("dns"),
    ngx_string("tls"),
    ngx_string("reset"),
    ngx_string("timeout"),
    ngx_string("invalid_header"),
    ngx_string("deadline"),
    ngx_string("client_closed")
};


char *
ngx_http_fireworks_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fireworks_main_conf_t *fmcf = conf;

    ssize_t                     size;
    ngx_str_t                  *value;
    ngx_http_fireworks_zone_t  *zone;

    if (fmcf->zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\" directive",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\" directive, "
                           "it must be at least %uzk",
                           &value[2], &cmd->name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_fireworks_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    fmcf->zone = ngx_shared_memory_add(cf, &value[1], size,
                                       &ngx_http_fireworks_module);
    if (fmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (fmcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" zone \"%V\" is already defined",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    zone->routes = &fmcf->routes;

    fmcf->zone->init = ngx_http_fireworks_init_zone;
    fmcf->zone->data = zone;

    return NGX_CONF_OK;
}


/*
 * The route a fireworks_pass location counts into: fireworks_route, else
 * the location's name.  Locations of the same name share one.
 */

ngx_int_t
ngx_http_fireworks_route_conf(ngx_conf_t *cf,
    ngx_http_fireworks_loc_conf_t *flcf)
{
    ngx_str_t                         name;
    ngx_uint_t                        i;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_fireworks_route_conf_t  *rc, **rcp;
    ngx_http_fireworks_main_conf_t   *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_fireworks_module);

    if (flcf->route_name.len) {
        name = flcf->route_name;

    } else {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        name = clcf->name;
    }

    rcp = fmcf->routes.elts;

    for (i = 0; i < fmcf->routes.nelts; i++) {
        if (rcp[i]->name.len == name.len
            && ngx_strncmp(rcp[i]->name.data, name.data, name.len) == 0)
        {
            flcf->route = rcp[i];
            return NGX_OK;
        }
    }

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_http_fireworks_route_conf_t));
    if (rc == NULL) {
        return NGX_ERROR;
    }

    rc->name = name;

    rcp = ngx_array_push(&fmcf->routes);
    if (rcp == NULL) {
        return NGX_ERROR;
    }

    *rcp = rc;
    flcf->route = rc;

    return NGX_OK;
}


/*
 * In the master, at start and at every reload.  The zone of a reload
 * with the same name and size is the same memory: its routes are found
 * by name and keep their counts; a new route gets a block.
 */

static ngx_int_t
ngx_http_fireworks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_fireworks_zone_t  *ozone = data;

    size_t                             len;
    ngx_uint_t                         i, missing;
    ngx_http_fireworks_zone_t         *zone;
    ngx_http_fireworks_route_conf_t  **rcp;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

    } else {
        zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            zone->sh = zone->shpool->data;

        } else {
            zone->sh = ngx_slab_calloc(zone->shpool,
                                       sizeof(ngx_http_fireworks_shctx_t));
            if (zone->sh == NULL) {
                return NGX_ERROR;
            }

            zone->shpool->data = zone->sh;

            len = sizeof(" in fireworks_zone \"\"") + shm_zone->shm.name.len;

            zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
            if (zone->shpool->log_ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(zone->shpool->log_ctx, " in fireworks_zone \"%V\"%Z",
                        &shm_zone->shm.name);

            zone->shpool->log_nomem = 0;
        }
    }

    rcp = zone->routes->elts;
    missing = 0;

    for (i = 0; i < zone->routes->nelts; i++) {
        rcp[i]->block = ngx_http_fireworks_route_block(zone, &rcp[i]->name,
                                                       shm_zone->shm.log);
        rcp[i]->shpool = zone->shpool;

        if (rcp[i]->block == NULL && rcp[i]->guard) {
            missing++;
        }
    }

    if (missing == 0) {
        return NGX_OK;
    }

    /*
     * A route without its block would run with no budget, no cap and no
     * gate: the guard its directives ask for would silently be off.  The
     * configuration fails (nginx -t, start, reload) with the size needed:
     * this one and, for each route missing, a block of whole pages.
     */

    len = ngx_align(sizeof(ngx_http_fireworks_route_t) + 256, ngx_pagesize)
          + ngx_align(sizeof(ngx_http_fireworks_series_t), ngx_pagesize);

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "fireworks_zone \"%V\" is too small for the routes of "
                  "fireworks_gate, fireworks_retry_budget or "
                  "fireworks_max_waiting: %ui more need a block, "
                  "it must be at least %uzk",
                  &shm_zone->shm.name, missing,
                  (shm_zone->shm.size + missing * len + 1023) / 1024);

    return NGX_ERROR;
}


static ngx_http_fireworks_route_t *
ngx_http_fireworks_route_block(ngx_http_fireworks_zone_t *zone,
    ngx_str_t *name, ngx_log_t *log)
{
    ngx_http_fireworks_route_t  *route;

    for (route = zone->sh->routes; route; route = route->next) {
        if (route->len == name->len
            && ngx_strncmp(route->name, name->data, name->len) == 0)
        {
            return route;
        }
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    route = ngx_slab_calloc_locked(zone->shpool,
                                   sizeof(ngx_http_fireworks_route_t)
                                   + name->len);
    if (route == NULL) {
        goto full;
    }

    route->series = ngx_http_fireworks_series_alloc(zone->shpool, NULL, 0);
    if (route->series == NULL) {
        ngx_slab_free_locked(zone->shpool, route);
        goto full;
    }

    route->name = (u_char *) (route + 1);
    route->len = name->len;
    ngx_memcpy(route->name, name->data, name->len);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "fireworks zone: new route \"%V\"", name);

    /* the renderer walks the list without the lock: link it when whole */

    route->next = zone->sh->routes;
    ngx_memory_barrier();
    zone->sh->routes = route;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return route;

full:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_fireworks_zone_full(zone->sh, log);

    return NULL;
}


static ngx_http_fireworks_series_t *
ngx_http_fireworks_series_alloc(ngx_slab_pool_t *shpool, u_char *model,
    size_t len)
{
    ngx_http_fireworks_series_t  *s;

    s = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_fireworks_series_t)
                                       + len);
    if (s == NULL) {
        return NULL;
    }

    s->model = (u_char *) (s + 1);
    s->model_len = len;
    ngx_memcpy(s->model, model, len);

    return s;
}


/*
 * The series of the request's model: found without the lock (a series is
 * linked only when whole, and never unlinked), added under it.  A route
 * has room for NGX_HTTP_FIREWORKS_MODELS models; the others count as
 * "other": the model comes from the client, the labels stay bounded.
 */

static ngx_http_fireworks_series_t *
ngx_http_fireworks_model_series(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_str_t                     other = ngx_string("other");
    ngx_str_t                    *model;
    ngx_http_fireworks_route_t   *route;
    ngx_http_fireworks_series_t  *s;

    route = ctx->route;
    model = &ctx->model;

    s = ngx_http_fireworks_find_series(route, model);

    if (s != NULL) {
        return s;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (route->models >= NGX_HTTP_FIREWORKS_MODELS) {
        model = &other;
    }

    s = ngx_http_fireworks_find_series(route, model);

    if (s == NULL) {
        s = ngx_http_fireworks_series_alloc(ctx->shpool, model->data,
                                            model->len);

        if (s != NULL) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log,
                           0, "fireworks zone: new series \"%V\", %ui",
                           model, route->models);

            if (model != &other) {
                route->models++;
            }

            s->next = route->series->next;
            ngx_memory_barrier();
            route->series->next = s;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (s == NULL) {
        ngx_http_fireworks_zone_full(ctx->shpool->data,
                                     ctx->request->connection->log);
        return route->series;
    }

    return s;
}


static ngx_http_fireworks_series_t *
ngx_http_fireworks_find_series(ngx_http_fireworks_route_t *route,
    ngx_str_t *model)
{
    ngx_http_fireworks_series_t  *s;

    for (s = route->series->next; s; s = s->next) {
        if (s->model_len == model->len
            && ngx_strncmp(s->model, model->data, model->len) == 0)
        {
            return s;
        }
    }

    return NULL;
}


static void
ngx_http_fireworks_zone_full(ngx_http_fireworks_shctx_t *sh, ngx_log_t *log)
{
    if (ngx_atomic_fetch_add(&sh->zone_full, 1) == 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "fireworks: the zone is full, some series are not "
                      "counted; counted in fireworks_zone_full_total");
    }
}


/*
 * A worker claims a free slot.  The slots of processes that have died
 * are reset on the way, their gauges with them: a worker killed with
 * requests in flight leaves nothing counted once any worker starts, as
 * its replacement does at once.  The lock keeps two workers from taking
 * the same slot.
 */

ngx_int_t
ngx_http_fireworks_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_pid_t                        pid;
    ngx_uint_t                       i, slot;
    ngx_http_fireworks_zone_t       *zone;
    ngx_http_fireworks_route_t      *route;
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_fireworks_module);

    if (fmcf == NULL || fmcf->zone == NULL) {
        return NGX_OK;
    }

    zone = fmcf->zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* every slot of a process that has died is reset, not only the one taken */

    slot = NGX_HTTP_FIREWORKS_SLOTS;

    for (i = 0; i < NGX_HTTP_FIREWORKS_SLOTS; i++) {
        pid = (ngx_pid_t) zone->sh->pid[i];

        if (pid != 0 && (kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH)) {
            continue;
        }

        if (pid != 0) {
            ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                          "fireworks: reset the zone's slot of process %P",
                          pid);

            for (route = zone->sh->routes; route; route = route->next) {
                route->waiting[i] = 0;
                route->in_flight[i] = 0;
                route->retrying[i] = 0;
                route->held[i] = 0;
            }

            zone->sh->pid[i] = 0;
        }

        if (slot == NGX_HTTP_FIREWORKS_SLOTS) {
            slot = i;
        }
    }

    if (slot == NGX_HTTP_FIREWORKS_SLOTS) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "fireworks: no free worker slot in the zone, "
                      "this worker's gauges are not counted");
        return NGX_OK;
    }

    zone->sh->pid[slot] = ngx_pid;
    ngx_http_fireworks_slot = slot;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "fireworks zone: worker slot %ui", slot);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_fireworks_zone_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_fireworks_zone_t       *zone;
    ngx_http_fireworks_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_fireworks_module);

    if (fmcf == NULL || fmcf->zone == NULL
        || ngx_http_fireworks_slot == NGX_HTTP_FIREWORKS_SLOTS)
    {
        return;
    }

    zone = fmcf->zone->data;

    (void) ngx_atomic_cmp_set(&zone->sh->pid[ngx_http_fireworks_slot],
                              ngx_pid, 0);
}


/* counting, from the request flow: nothing without a zone */

void
ngx_http_fireworks_count_start(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_loc_conf_t *flcf)
{
    if (ctx->route == NULL || ctx->series != NULL) {
        return;
    }

    ctx->slot = ngx_http_fireworks_slot;
    ctx->series = ctx->route->series;

    if (flcf->metrics_model) {
        ngx_http_fireworks_inspect(ctx->request, ctx);

        if (ctx->model.len) {
            ctx->series = ngx_http_fireworks_model_series(ctx);
        }
    }

}


/* an attempt ended (retry = 0) or is retried (retry = 1), and why */

void
ngx_http_fireworks_count_attempt(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_result_t *res, ngx_uint_t retry)
{
    ngx_uint_t                    key;
    ngx_http_fireworks_series_t  *s;

    if (ctx->route == NULL) {
        return;
    }

    s = ctx->series;
    key = res->kind ? 1000 + res->kind : res->status;

    if (retry) {

        /* the switch to the fallback is no retry: fallbacks_total has it */

        if (ctx->fallback_next && !ctx->fallback) {
            return;
        }

        ngx_http_fireworks_code_add(ctx, s->retries, key);
        return;
    }

    ngx_http_fireworks_code_add(ctx, ctx->fallback ? s->fallback_attempts
                                                   : s->attempts, key);
}


void
ngx_http_fireworks_count_fallback(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_outcome_e outcome)
{
    if (ctx->route == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ctx->route->fallbacks[outcome], 1);
}


void
ngx_http_fireworks_count_header(ngx_http_fireworks_ctx_t *ctx)
{
    if (ctx->route == NULL) {
        return;
    }

    ngx_http_fireworks_observe(&ctx->series->header,
                               ngx_http_fireworks_header_bounds,
                               ngx_current_msec - ctx->attempt.start);
}


void
ngx_http_fireworks_count_retry_after(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_ra_action_e action)
{
    if (ctx->route == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ctx->series->retry_after[action], 1);
}


/* a wait has ended: the time it took */

void
ngx_http_fireworks_count_backoff(ngx_http_fireworks_ctx_t *ctx,
    ngx_msec_t waited)
{
    if (ctx->route == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ctx->series->backoff, waited);
}


/*
 * The answer's usage and times, in the log phase: tokens where the answer
 * told them, the time to the first token for streams, and per output
 * token for streams that told their completion tokens.
 */

void
ngx_http_fireworks_count_usage(ngx_http_fireworks_ctx_t *ctx)
{
    ngx_msec_t                    us;
    ngx_http_fireworks_usage_t   *u;
    ngx_http_fireworks_series_t  *s;

    u = ctx->usage;

    if (ctx->route == NULL || u == NULL) {
        return;
    }

    s = ctx->series;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "fireworks usage: %ui, prompt %uL, completion %uL, "
                   "first %M, last %M", (ngx_uint_t) u->has_usage,
                   u->prompt, u->completion, u->first, u->last);

    if (u->has_usage) {
        (void) ngx_atomic_fetch_add(&s->tokens[0], u->prompt);
        (void) ngx_atomic_fetch_add(&s->tokens[1], u->completion);
        (void) ngx_atomic_fetch_add(&s->tokens[2], u->cached);

        ngx_http_fireworks_observe(&s->usage[0],
                                   ngx_http_fireworks_token_bounds,
                                   (ngx_msec_t) u->prompt);
        ngx_http_fireworks_observe(&s->usage[1],
                                   ngx_http_fireworks_token_bounds,
                                   (ngx_msec_t) u->completion);
    }

    if (!ctx->attempt.sse || !u->started) {
        return;
    }

    ngx_http_fireworks_observe(&s->ttft, ngx_http_fireworks_ttft_bounds,
                               u->first);

    if (u->has_usage && u->completion) {
        us = (ngx_msec_t) ((u->last - u->first) * 1000 / u->completion);
        ngx_http_fireworks_observe(&s->tpot, ngx_http_fireworks_tpot_bounds,
                                   us);
    }
}


/*
 * The log phase, after the request's cleanups and with its final
 * status: the request is counted as finished, in the route of each
 * fireworks_pass it went through (more than one after an error_page
 * that sends it to another).  Each pass released its gauges when it
 * ended (ngx_http_fireworks_gauges()).
 */

ngx_int_t
ngx_http_fireworks_log_handler(ngx_http_request_t *r)
{
    ngx_msec_t                 ms;
    ngx_uint_t                 status;
    ngx_http_fireworks_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_fireworks_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    /* the newest pass answered: the final status and the whole time */

    status = r->headers_out.status;

    if (status == 0 && r->err_status) {
        status = r->err_status;
    }

    ms = ngx_http_fireworks_request_time(r);

    for ( /* void */ ; ctx; ctx = ctx->prev) {

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fireworks log: pass of %ui attempts, %ui, %Mms",
                       ctx->attempts, status, ms);

        ngx_http_fireworks_count_end(ctx, status, ms);

        /* an earlier pass: the answer it gave up with, when it did */

        if (ctx->prev) {
            status = ctx->prev->answer;
            ms = ctx->prev->time;
        }
    }

    return NGX_OK;
}


/* a pass has ended: it is counted (its gauges went at DONE) */

static void
ngx_http_fireworks_count_end(ngx_http_fireworks_ctx_t *ctx,
    ngx_uint_t status, ngx_msec_t ms)
{
    ngx_http_fireworks_series_t  *s;

    if (ctx->route == NULL) {
        return;
    }

    s = ctx->series;

    (void) ngx_atomic_fetch_add(&s->requests[ctx->workload][ctx->outcome], 1);

    if (status >= 100 && status < 600) {
        ngx_http_fireworks_code_add(ctx, s->responses, status);
    }

    ngx_http_fireworks_observe(&s->duration[ctx->workload],
                               ngx_http_fireworks_duration_bounds, ms);

    ngx_http_fireworks_count_usage(ctx);
}


/* ms since the request came, as $request_time counts it */

ngx_msec_t
ngx_http_fireworks_request_time(ngx_http_request_t *r)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_msec_t) ((tp->sec - r->start_sec) * 1000
                         + ((ngx_msec_int_t) tp->msec
                            - (ngx_msec_int_t) r->start_msec));
}


ngx_int_t
ngx_http_fireworks_gauge_add(ngx_http_fireworks_ctx_t *ctx,
    ngx_atomic_t *gauge, ngx_int_t n)
{
    if (ctx->slot >= NGX_HTTP_FIREWORKS_SLOTS) {
        return NGX_DECLINED;
    }

    (void) ngx_atomic_fetch_add(&gauge[ctx->slot], (ngx_atomic_int_t) n);

    return NGX_OK;
}


/* a gauge: the sum of the worker slots */

ngx_atomic_int_t
ngx_http_fireworks_gauge_sum(ngx_atomic_t *gauge)
{
    ngx_uint_t        i;
    ngx_atomic_int_t  n;

    n = 0;

    for (i = 0; i < NGX_HTTP_FIREWORKS_SLOTS; i++) {
        n += (ngx_atomic_int_t) gauge[i];
    }

    return n;
}


/*
 * A status or kind's counter: its slot in the table, taken with a compare
 * and set the first time, then only added to.  A full table counts in
 * fireworks_zone_full_total.
 */

static void
ngx_http_fireworks_code_add(ngx_http_fireworks_ctx_t *ctx,
    ngx_http_fireworks_code_t *codes, ngx_uint_t key)
{
    ngx_uint_t  i, n;

    i = key % NGX_HTTP_FIREWORKS_CODES;

    for (n = 0; n < NGX_HTTP_FIREWORKS_CODES; n++) {

        if (codes[i].key == key) {
            (void) ngx_atomic_fetch_add(&codes[i].value, 1);
            return;
        }

        if (codes[i].key == 0
            && (ngx_atomic_cmp_set(&codes[i].key, 0, key)
                || codes[i].key == key))
        {
            (void) ngx_atomic_fetch_add(&codes[i].value, 1);
            return;
        }

        i = (i + 1) % NGX_HTTP_FIREWORKS_CODES;
    }

    ngx_http_fireworks_zone_full(ctx->shpool->data,
                                 ctx->request->connection->log);
}


static void
ngx_http_fireworks_observe(ngx_http_fireworks_hist_t *h, ngx_msec_t *bounds,
    ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; bounds[i] && ms > bounds[i]; i++) { /* void */ }

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, ms);
}
