/*
 * session: sign-in sessions for the HTTP layer (see session.h): the CSRF
 * token and its constant-time check.  The sessions table, its SQL and the
 * cache of verified sessions are the tokens store's (runtime/tokens.c): a
 * revoked token ends its sessions, a signed-out session is refused at once.
 */
#include "server/session.h"

#include <stdio.h>
#include <string.h>

#include "server/auth.h"
#include "runtime/blob.h"
#include "runtime/tokens.h"

/* Prefix of the CSRF derivation: a different hash input than the stored
 * sha256(sid), so the stored hash never equals the CSRF token. */
static const char CSRF_PREFIX[] = "kiln-csrf-v1:";

/* 1 when a and b (NUL-terminated) are equal, in time independent of where
 * they differ. */
static int same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

void session_csrf(const char *sid, char csrf[SESSION_CSRF_LEN + 1])
{
	char buf[sizeof(CSRF_PREFIX) + SESSION_ID_LEN];
	int n = snprintf(buf, sizeof(buf), "%s%s", CSRF_PREFIX, sid);
	blob_sha256_hex(buf, (size_t)n, csrf);
}

int session_create(struct db *db, long long token_id, char sid[SESSION_ID_LEN + 1],
		   char csrf[SESSION_CSRF_LEN + 1], char *expires, struct kiln_err *err)
{
	int rc = tokens_session_create(db, token_id, SESSION_TTL_S, sid, expires, err);
	if (rc == 0)
		session_csrf(sid, csrf);
	return rc;
}

int session_check(struct db *db, const char *sid, const char *csrf, int unsafe,
		  struct http_principal *p, char *expires, struct kiln_err *err)
{
	struct tokens_who w;
	int rc = tokens_session_check(db, sid, &w, expires, err);
	if (rc != 0)
		return rc;
	auth_principal_of(&w, p);
	if (unsafe) {
		char want[SESSION_CSRF_LEN + 1];
		session_csrf(sid, want);
		if (csrf == NULL || csrf[0] == '\0') {
			p->role = ROLE_ANON;
			return kiln_errf(err, KILN_EFORBIDDEN, "X-CSRF-Token",
					 "this request changes something and came with a session "
					 "cookie but no X-CSRF-Token header; reload the page");
		}
		if (!same_secret(csrf, want)) {
			p->role = ROLE_ANON;
			return kiln_errf(err, KILN_EFORBIDDEN, "X-CSRF-Token",
					 "the X-CSRF-Token header does not match this session; "
					 "reload the page");
		}
	}
	return 0;
}

int session_delete(struct db *db, const char *sid, struct kiln_err *err)
{
	return tokens_session_delete(db, sid, err);
}
