/*
 * session: sign-in sessions stored hashed in sqlite (see session.h).
 *
 * The check runs on every request the dashboard makes, so it is one indexed
 * SELECT joined with tokens (a revoked token ends its sessions without a
 * second write).  Comparisons of secrets are constant-time.
 */
#include "server/session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "server/auth.h"
#include "runtime/blob.h"

/* Prefix of the CSRF derivation: a different hash input than the stored
 * sha256(sid), so the stored hash never equals the CSRF token. */
static const char CSRF_PREFIX[] = "kiln-csrf-v1:";

static int db_fail(sqlite3 *c, struct kiln_err *err, const char *what)
{
	return kiln_errf(err, KILN_EIO, "", "%s: %s", what, c ? sqlite3_errmsg(c) : "no connection");
}

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

static int well_formed(const char *sid)
{
	if (strlen(sid) != SESSION_ID_LEN)
		return 0;
	for (const char *s = sid; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* ISO time now + secs, in db_now()'s format so text order is time order. */
static void iso_after(long secs, char *buf, size_t cap)
{
	time_t t = time(NULL) + secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
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
	unsigned char rnd[SESSION_ID_LEN / 2];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kiln_errf(err, KILN_EIO, "", "getrandom failed: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(sid + 2 * i, 3, "%02x", rnd[i]);
	char hash[BLOB_HEX_LEN + 1], now[32];
	blob_sha256_hex(sid, SESSION_ID_LEN, hash);
	db_now(now, sizeof(now));
	iso_after(SESSION_TTL_S, expires, 32);
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL)
		return db_fail(c, err, "cannot start session");
	/* Sweep first; failing to sweep must not stop a sign-in. */
	if (sqlite3_prepare_v2(c, "DELETE FROM sessions WHERE expires_at <= ?", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(c, "INSERT INTO sessions(hash, token, created_at, expires_at)"
			       " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot start session");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, token_id);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, expires, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(c, err, "cannot start session");
	session_csrf(sid, csrf);
	return 0;
}

int session_check(struct db *db, const char *sid, const char *csrf, int unsafe,
		  struct http_principal *p, char *expires, struct kiln_err *err)
{
	static const char gone[] = "your session has ended (expired, signed out, or its "
				   "token was revoked); sign in again";
	if (!well_formed(sid))
		return kiln_errf(err, KILN_EAUTH, "", "%s", gone);
	char hash[BLOB_HEX_LEN + 1], now[32];
	blob_sha256_hex(sid, SESSION_ID_LEN, hash);
	db_now(now, sizeof(now));
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c,
		"SELECT t.id, t.name, t.role, s.expires_at FROM sessions s"
		" JOIN tokens t ON t.id = s.token"
		" WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL",
		-1, &st, NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot check session");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return db_fail(c, err, "cannot check session");
		return kiln_errf(err, KILN_EAUTH, "", "%s", gone);
	}
	p->token_id = sqlite3_column_int64(st, 0);
	snprintf(p->name, sizeof(p->name), "%s", (const char *)sqlite3_column_text(st, 1));
	enum http_role role = ROLE_ANON;
	auth_role_parse((const char *)sqlite3_column_text(st, 2), &role);
	p->role = role;
	if (expires)
		snprintf(expires, 32, "%s", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
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
	if (!well_formed(sid))
		return 0;
	char hash[BLOB_HEX_LEN + 1];
	blob_sha256_hex(sid, SESSION_ID_LEN, hash);
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "DELETE FROM sessions WHERE hash = ?", -1, &st,
					   NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot end session");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(c, err, "cannot end session");
}
