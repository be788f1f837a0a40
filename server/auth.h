/*
 * auth: bearer tokens as the HTTP layer sees them — creating them, checking
 * them, revoking them, with roles as enum http_role.  The SQL and the cache
 * of verified tokens live in the tokens store (runtime/tokens.h): a token
 * is "kiln_" + 64 hex digits of getrandom(), only its sha256 is stored, and
 * a revoked token is refused on its next request.  On first start
 * auth_bootstrap() makes the admin token and writes it to
 * <data_dir>/admin.token with mode 0600.
 */
#ifndef KILN_AUTH_H
#define KILN_AUTH_H

#include <cJSON.h>

#include "runtime/db.h"
#include "server/http.h"
#include "runtime/kiln_err.h"

#define AUTH_TOKEN_LEN 69 /* "kiln_" + 64 hex */

struct tokens_who;

/* The store's record as a principal (role name mapped to the enum). */
void auth_principal_of(const struct tokens_who *w, struct http_principal *p);

/* Role name <-> enum: "admin", "user", "device". */
const char *auth_role_name(enum http_role role);
int auth_role_parse(const char *name, enum http_role *role);

/* Creates a token; token receives the secret (shown once), *id its row id. */
int auth_token_create(struct db *db, const char *name, enum http_role role,
		      char token[AUTH_TOKEN_LEN + 1], long long *id, struct kiln_err *err);

/* Looks up a presented token. KILN_EAUTH when unknown or revoked. */
int auth_token_verify(struct db *db, const char *token, struct http_principal *p,
		      struct kiln_err *err);

/* Marks a token revoked. KILN_ENOTFOUND when absent or already revoked;
 * KILN_ECONFLICT when it is the last active admin token (that would lock
 * everyone out). */
int auth_token_revoke(struct db *db, long long id, struct kiln_err *err);

/* A page of active tokens as a JSON array (no secrets), newest last;
 * *next is the cursor for the next page, 0 when this is the last.
 * Returns a new cJSON array (caller deletes) or NULL with err set. */
cJSON *auth_token_list(struct db *db, int limit, long long after, long long *next,
		       struct kiln_err *err);

/* One token's record (no secret), or NULL with KILN_ENOTFOUND. */
cJSON *auth_token_get(struct db *db, long long id, struct kiln_err *err);

/* When no admin token exists: creates one and writes it to
 * <data_dir>/admin.token (0600, via a temporary file and rename).
 * *created is set to 1 when it did. */
int auth_bootstrap(struct db *db, const char *data_dir, int *created, struct kiln_err *err);

#endif
