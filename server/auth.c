/*
 * auth: bearer tokens for the HTTP layer (see auth.h).  The tokens table,
 * its SQL and the cache of verified tokens are the tokens store's
 * (runtime/tokens.c); this file maps its role names to enum http_role and
 * its records to struct http_principal.
 */
#include "server/auth.h"

#include <stdio.h>
#include <string.h>

#include "runtime/tokens.h"

_Static_assert(AUTH_TOKEN_LEN == TOKENS_SECRET_LEN, "one token length");

/* Role name <-> enum, one row each. */
static const struct {
	enum http_role role;
	const char *name;
} ROLES[] = {
	{ROLE_ADMIN, "admin"},
	{ROLE_USER, "user"},
	{ROLE_DEVICE, "device"},
};

const char *auth_role_name(enum http_role role)
{
	for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++)
		if (ROLES[i].role == role)
			return ROLES[i].name;
	return "anonymous";
}

int auth_role_parse(const char *name, enum http_role *role)
{
	for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++) {
		if (strcmp(ROLES[i].name, name) == 0) {
			*role = ROLES[i].role;
			return 0;
		}
	}
	return -1;
}

void auth_principal_of(const struct tokens_who *w, struct http_principal *p)
{
	p->token_id = w->id;
	snprintf(p->name, sizeof(p->name), "%s", w->name);
	enum http_role role = ROLE_ANON;
	auth_role_parse(w->role, &role);
	p->role = role;
}

int auth_token_create(struct db *db, const char *name, enum http_role role,
		      char token[AUTH_TOKEN_LEN + 1], long long *id, struct kiln_err *err)
{
	return tokens_create(db, name, auth_role_name(role), token, id, err);
}

int auth_token_verify(struct db *db, const char *token, struct http_principal *p,
		      struct kiln_err *err)
{
	struct tokens_who w;
	int rc = tokens_check(db, token, &w, err);
	if (rc == 0)
		auth_principal_of(&w, p);
	return rc;
}

int auth_token_revoke(struct db *db, long long id, struct kiln_err *err)
{
	return tokens_revoke(db, id, err);
}

cJSON *auth_token_list(struct db *db, int limit, long long after, long long *next,
		       struct kiln_err *err)
{
	return tokens_list(db, limit, after, next, err);
}

cJSON *auth_token_get(struct db *db, long long id, struct kiln_err *err)
{
	return tokens_get(db, id, err);
}

int auth_bootstrap(struct db *db, const char *data_dir, int *created, struct kiln_err *err)
{
	return tokens_bootstrap(db, data_dir, created, err);
}
