/*
 * router: matches a method and a path against the route table.
 * Patterns are literal segments and {name} placeholders, one segment each;
 * a last {name*} takes the rest of the path (one or more segments, none
 * empty), for paths deeper than ROUTER_MAX_PARAMS placeholders could hold.
 */
#ifndef KILN_ROUTER_H
#define KILN_ROUTER_H

#include <stddef.h>

#include "server/http.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX 256   /* a longer segment never matches a {name} */

struct router_params {
	int n;
	struct {
		char name[32];
		char value[ROUTER_PARAM_MAX];
	} p[ROUTER_MAX_PARAMS];
};

#define ROUTER_NOT_FOUND (-1)
#define ROUTER_NO_METHOD (-2)

/* Returns the index of the matching route and fills params; or
 * ROUTER_NOT_FOUND; or ROUTER_NO_METHOD with allow set to the methods that
 * path does answer ("GET, HEAD, POST").  HEAD matches GET routes. */
int router_match(const struct http_route *routes, size_t n, const char *method,
		 const char *path, struct router_params *params, char *allow, size_t allow_cap);

#endif
