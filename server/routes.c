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
	{"POST", "/api/v1/models", "models_create", ROLE_USER, BODY_STREAM, route_models_create,
	 &routes_model_upload},
	{"GET", "/api/v1/models", "models_list", ROLE_USER, BODY_NONE, route_models_list, NULL},
	{"GET", "/api/v1/models/{id}", "models_get", ROLE_USER, BODY_NONE, route_models_get, NULL},
	{"DELETE", "/api/v1/models/{id}", "models_delete", ROLE_USER, BODY_NONE,
	 route_models_delete, NULL},
	{"GET", "/api/v1/models/{id}/file", "models_file", ROLE_USER, BODY_NONE, route_models_file,
	 NULL},
	{"GET", "/api/v1/models/{id}/graph", "models_graph", ROLE_USER, BODY_NONE,
	 route_models_graph, NULL},
	{"POST", "/api/v1/models/{id}/cut", "models_cut", ROLE_USER, BODY_JSON, route_models_cut,
	 NULL},
	{"POST", "/api/v1/datasets", "datasets_create", ROLE_USER, BODY_STREAM,
	 route_datasets_create, &routes_dataset_upload},
	{"GET", "/api/v1/datasets", "datasets_list", ROLE_USER, BODY_NONE, route_datasets_list, NULL},
	{"GET", "/api/v1/datasets/{id}", "datasets_get", ROLE_USER, BODY_NONE, route_datasets_get,
	 NULL},
	{"GET", "/api/v1/datasets/{id}/thumbs", "datasets_thumbs", ROLE_USER, BODY_NONE,
	 route_datasets_thumbs, NULL},
	{"DELETE", "/api/v1/datasets/{id}", "datasets_delete", ROLE_USER, BODY_NONE,
	 route_datasets_delete, NULL},
	{"POST", "/api/v1/models/{id}/rewrite", "models_rewrite", ROLE_USER, BODY_JSON,
	 route_models_rewrite, NULL},
};

const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);
