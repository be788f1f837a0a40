/*
 * tokens: the store of access tokens (schema/001_init.sql) and of the
 * dashboard's sign-in sessions (schema/007_sessions.sql) — all of their SQL.
 *
 * A token is "kiln_" + 64 hex digits of getrandom(); a session id is 64 hex
 * digits.  The database keeps only their sha256, so lookups are by hash and
 * a stolen kiln.db grants nothing.  Roles are the strings the table holds
 * ("admin", "user", "device"); the HTTP layer (server/auth.c) maps them.
 *
 * The checks run on every authenticated request, so a verified token or
 * session is remembered per thread (no lock) for TOKENS_CACHE_TTL_S.  Every
 * change made through this store that can refuse a credential (revoking a
 * token, ending a session) bumps one generation counter that every cached
 * entry is checked against, so a revoked token is refused on its very next
 * request on every thread.  The TTL only bounds how long a change made
 * behind kilnd's back (another process writing kiln.db) goes unseen.
 */
#ifndef KILN_TOKENS_H
#define KILN_TOKENS_H

#include <cJSON.h>

#include "runtime/db.h"
#include "runtime/kiln_err.h"

#define TOKENS_SECRET_LEN 69      /* "kiln_" + 64 hex */
#define TOKENS_SESSION_LEN 64     /* hex digits of 32 random bytes */
#define TOKENS_CACHE_TTL_S 10

/* Who a token or session speaks for. */
struct tokens_who {
	long long id;             /* the token's row id */
	char name[64];
	char role[8];             /* "admin", "user" or "device" */
};

/* Creates a token; secret receives it (shown once), *id its row id. */
int tokens_create(struct db *db, const char *name, const char *role,
		  char secret[TOKENS_SECRET_LEN + 1], long long *id, struct kiln_err *err);

/* Looks up a presented token.  KILN_EAUTH when malformed, unknown or
 * revoked.  Writes last_used_at at most once a minute per token (a write
 * per request would serialise every request on sqlite's writer lock). */
int tokens_check(struct db *db, const char *secret, struct tokens_who *who,
		 struct kiln_err *err);

/* Marks a token revoked (which also ends its sessions).  KILN_ENOTFOUND
 * when absent or already revoked; KILN_ECONFLICT when it is the last
 * active admin token (that would lock everyone out). */
int tokens_revoke(struct db *db, long long id, struct kiln_err *err);

/* A page of active tokens as a JSON array (no secrets), oldest first;
 * *next is the cursor for the next page, 0 when this is the last.  Returns
 * a new cJSON array (caller deletes) or NULL with err set. */
cJSON *tokens_list(struct db *db, int limit, long long after, long long *next,
		   struct kiln_err *err);

/* One active token's record (no secret): a new cJSON object (caller
 * deletes), or NULL with KILN_ENOTFOUND. */
cJSON *tokens_get(struct db *db, long long id, struct kiln_err *err);

/* When no active admin token exists: creates one and writes its secret to
 * <data_dir>/admin.token (0600, via a temporary file and rename), the row
 * and the file together or neither.  *created is 1 when it did. */
int tokens_bootstrap(struct db *db, const char *data_dir, int *created, struct kiln_err *err);

/* --- sessions --- */

/* Starts a session for token token_id, ending at now + ttl_s.  sid
 * receives the secret for the cookie, expires the ISO end time (>= 32
 * bytes).  Expired sessions are swept here, so the table stays small. */
int tokens_session_create(struct db *db, long long token_id, long ttl_s,
			  char sid[TOKENS_SESSION_LEN + 1], char *expires, struct kiln_err *err);

/* Looks up a presented session id: fills who and, when expires is not
 * NULL, its ISO end time (>= 32 bytes).  KILN_EAUTH when malformed,
 * unknown, expired, signed out, or its token revoked. */
int tokens_session_check(struct db *db, const char *sid, struct tokens_who *who,
			 char *expires, struct kiln_err *err);

/* Ends a session (signing out).  Absent or malformed is not an error. */
int tokens_session_delete(struct db *db, const char *sid, struct kiln_err *err);

#endif
