
/*
 * Copyright (C) ngx_fireworks_module authors
 */


#ifndef _NGX_HTTP_FIREWORKS_SSE_H_INCLUDED_
#define _NGX_HTTP_FIREWORKS_SSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The first complete event with data in [p, last): a pointer past its
 * end and its first data line's value; NULL while there is none yet.
 */
u_char *ngx_http_fireworks_sse_event(u_char *p, u_char *last, u_char **data,
    u_char **data_end);

/* the status an error object in an event's data carries, 0 for none */
ngx_uint_t ngx_http_fireworks_sse_error(u_char *p, u_char *last);


#endif /* _NGX_HTTP_FIREWORKS_SSE_H_INCLUDED_ */
