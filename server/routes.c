/*
 * routes: the one table of kilnd's endpoints — method, path pattern, metrics
 * name, minimum role, body kind, handler.  The router, the auth check, the
 * body limits and /metrics labels all read this table.
 */
#include "routes.h"

const struct http_route routes_table[] = {
	{"GET", "/healthz", "healthz", ROLE_ANON, BODY_NONE, route_healthz, NULL},
	{"GET", "/metrics", "metrics", ROLE_USER, BODY_NONE, route_metrics, NULL},
	{"GET", "/", "index", ROLE_ANON, BODY_NONE, route_index, NULL},
	{"POST", "/api/v1/tokens", "tokens_create", ROLE_ADMIN, BODY_JSON, route_tokens_create, NULL},
	{"GET", "/api/v1/tokens", "tokens_list", ROLE_ADMIN, BODY_NONE, route_tokens_list, NULL},
	{"GET", "/api/v1/tokens/{id}", "tokens_get", ROLE_ADMIN, BODY_NONE, route_tokens_get, NULL},
	{"DELETE", "/api/v1/tokens/{id}", "tokens_delete", ROLE_ADMIN, BODY_NONE,
	 route_tokens_delete, NULL},
};

const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);
