/*
 * session: the dashboard's sign-in sessions (schema/007_sessions.sql).
 *
 * A person signs in with a token once; the browser then carries a random
 * session id in an HttpOnly, SameSite=Strict cookie instead of the token.
 * Only sha256(session id) is stored.  The CSRF token is derived from the
 * session id (sha256 of a fixed prefix + id), so it needs no column, a copy
 * of kiln.db cannot produce it, and the page can fetch it again after a
 * reload.  The SQL for sessions is the tokens store's (runtime/tokens.h);
 * the HTTP layer reaches this module through http_server_opts.check_session
 * (wired in main.c) and the /api/v1/session routes (routes_session.c).
 */
#ifndef KILN_SESSION_H
#define KILN_SESSION_H

#include "runtime/db.h"
#include "server/http.h"
#include "runtime/kiln_err.h"

#define SESSION_ID_LEN 64        /* hex digits of 32 random bytes */
#define SESSION_CSRF_LEN 64      /* hex digits of a sha256 */
#define SESSION_TTL_S (12 * 3600) /* a working day; then sign in again */

/* Starts a session for token token_id.  sid receives the secret for the
 * cookie, csrf the matching CSRF token, expires the ISO end time (>= 32
 * bytes).  Expired sessions are swept here, so the table stays small. */
int session_create(struct db *db, long long token_id, char sid[SESSION_ID_LEN + 1],
		   char csrf[SESSION_CSRF_LEN + 1], char *expires, struct kiln_err *err);

/* Checks a presented session id.  With unsafe != 0 (a state-changing
 * method) csrf must equal the session's CSRF token.  Fills p (the token's
 * id, name and role) and, when expires is not NULL, the end time (>= 32
 * bytes).  KILN_EAUTH: unknown, expired, signed out, or its token revoked;
 * KILN_EFORBIDDEN: CSRF token missing or wrong. */
int session_check(struct db *db, const char *sid, const char *csrf, int unsafe,
		  struct http_principal *p, char *expires, struct kiln_err *err);

/* The CSRF token belonging to session id sid. */
void session_csrf(const char *sid, char csrf[SESSION_CSRF_LEN + 1]);

/* Ends a session (signing out).  Absent is not an error. */
int session_delete(struct db *db, const char *sid, struct kiln_err *err);

#endif
