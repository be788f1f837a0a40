/*
 * router: route matching (see router.h).  A linear scan: kilnd has a few
 * dozen routes, and a scan over them costs less than one sqlite lookup.
 */
#include "server/router.h"

#include <string.h>

/* Matches one pattern; fills params on success. */
static int match_pattern(const char *pattern, const char *path, struct router_params *params)
{
	params->n = 0;
	const char *p = pattern, *u = path;
	while (*p && *u) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t nlen = (size_t)(close - p - 1);
			/* {name*}: the rest of the path, one or more non-empty segments. */
			int tail = nlen > 0 && close[-1] == '*' && close[1] == '\0';
			const char *seg_end = tail ? NULL : strchr(u, '/');
			size_t vlen = seg_end ? (size_t)(seg_end - u) : strlen(u);
			if (tail) {
				nlen--;
				if (strstr(u, "//") != NULL || u[vlen - 1] == '/')
					return 0;
			}
			if (vlen == 0 || vlen >= ROUTER_PARAM_MAX || params->n == ROUTER_MAX_PARAMS ||
			    nlen >= sizeof(params->p[0].name))
				return 0;
			memcpy(params->p[params->n].name, p + 1, nlen);
			params->p[params->n].name[nlen] = '\0';
			memcpy(params->p[params->n].value, u, vlen);
			params->p[params->n].value[vlen] = '\0';
			params->n++;
			p = close + 1;
			u += vlen;
			continue;
		}
		if (*p != *u)
			return 0;
		p++;
		u++;
	}
	return *p == '\0' && *u == '\0';
}

int router_match(const struct http_route *routes, size_t n, const char *method,
		 const char *path, struct router_params *params, char *allow, size_t allow_cap)
{
	int path_matched = 0;
	size_t used = 0;
	if (allow_cap)
		allow[0] = '\0';
	int is_head = strcmp(method, "HEAD") == 0;
	for (size_t i = 0; i < n; i++) {
		struct router_params tmp;
		if (!match_pattern(routes[i].pattern, path, &tmp))
			continue;
		if (strcmp(routes[i].method, method) == 0 ||
		    (is_head && strcmp(routes[i].method, "GET") == 0)) {
			*params = tmp;
			return (int)i;
		}
		path_matched = 1;
		const char *m = routes[i].method;
		const char *extra = strcmp(m, "GET") == 0 ? ", HEAD" : "";
		size_t need = strlen(m) + strlen(extra) + 2;
		if (used + need + 1 < allow_cap && !strstr(allow, m)) {
			used += (size_t)snprintf(allow + used, allow_cap - used, "%s%s%s",
						 used ? ", " : "", m, extra);
		}
	}
	return path_matched ? ROUTER_NO_METHOD : ROUTER_NOT_FOUND;
}
