/*
 * tokens: the tokens and sessions tables, and the per-thread cache of
 * verified credentials in front of them (see tokens.h).
 *
 * Why a cache at all: a profile of GET /api/v1/tokens with a bearer token
 * (perf record, 64 connections) spent 5.7 % in the token check and 30 % in
 * sqlite3_prepare_v2 for the request's two queries; kilnd answered a
 * quarter of its own /healthz rate.  Now a repeated credential costs one
 * sha256 and a probe of a thread-local table, no lock and no sqlite, and
 * every query here is prepared once per thread (db_stmt).
 *
 * Correctness under revocation: `generation` is read before the database
 * is asked and stored with the entry; tokens_revoke and
 * tokens_session_delete bump it after their commit.  An entry filled from a
 * read that raced the commit carries the old generation, so it is dropped
 * at its next use; a request that arrives after the revoke's reply finds
 * every thread's entries stale.
 */
#include "runtime/tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "runtime/blob.h"

#define LAST_USED_EVERY_S 60
#define CACHE_SLOTS 64  /* per thread, per kind: more tokens than a fleet's busiest thread sees in 10 s */

struct cache_slot {
	unsigned long db;         /* db_serial(): two databases in one process never share entries */
	unsigned long gen;
	time_t until;
	char hash[BLOB_HEX_LEN + 1];
	struct tokens_who who;
	char expires[32];         /* sessions: the ISO end time */
};

static unsigned long generation; /* atomic; bumped when a credential may have been refused */
static _Thread_local struct cache_slot token_cache[CACHE_SLOTS];
static _Thread_local struct cache_slot session_cache[CACHE_SLOTS];

static unsigned long gen_now(void)
{
	return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

static void gen_bump(void)
{
	__atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

static struct cache_slot *slot_of(struct cache_slot *cache, const char *hash)
{
	/* The hash is uniform already: its first 8 hex digits make the key. */
	unsigned v = 0;
	for (int i = 0; i < 8; i++) {
		char c = hash[i];
		v = v << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return &cache[v % CACHE_SLOTS];
}

static int cache_get(struct cache_slot *cache, const struct db *db, const char *hash,
		     struct tokens_who *who, char *expires)
{
	struct cache_slot *s = slot_of(cache, hash);
	if (s->db != db_serial(db) || s->gen != gen_now() || s->until <= time(NULL) ||
	    strcmp(s->hash, hash) != 0)
		return 0;
	*who = s->who;
	if (expires)
		memcpy(expires, s->expires, sizeof(s->expires));
	return 1;
}

static void cache_put(struct cache_slot *cache, const struct db *db, const char *hash,
		      unsigned long gen, time_t until, const struct tokens_who *who,
		      const char *expires)
{
	struct cache_slot *s = slot_of(cache, hash);
	s->db = db_serial(db);
	s->gen = gen;
	s->until = until;
	memcpy(s->hash, hash, sizeof(s->hash));
	s->who = *who;
	snprintf(s->expires, sizeof(s->expires), "%s", expires ? expires : "");
}

static int db_fail(struct db *db, struct kiln_err *err, const char *what)
{
	sqlite3 *c = db_conn(db);
	return kiln_errf(err, KILN_EIO, "", "%s: %s", what, c ? sqlite3_errmsg(c) : "no connection");
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

/* Seconds since the epoch of an ISO time stamp (db_now's format), or 0. */
static time_t iso_time(const char *iso)
{
	struct tm tm = {0};
	if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

static void random_hex(unsigned char *rnd, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[rnd[i] >> 4];
		out[2 * i + 1] = hx[rnd[i] & 15];
	}
	out[2 * n] = '\0';
}

/* --- tokens ---------------------------------------------------------------- */

static const char SQL_INSERT[] =
	"INSERT INTO tokens(name, role, hash, created_at) VALUES (?, ?, ?, ?)";
static const char SQL_BY_HASH[] =
	"SELECT id, name, role, last_used_at, revoked_at FROM tokens WHERE hash = ?";
static const char SQL_TOUCH[] = "UPDATE tokens SET last_used_at = ? WHERE id = ?";
static const char SQL_REVOKABLE[] =
	"SELECT role, (SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked_at IS NULL)"
	" FROM tokens WHERE id = ? AND revoked_at IS NULL";
static const char SQL_REVOKE[] = "UPDATE tokens SET revoked_at = ? WHERE id = ?";
static const char SQL_LIST[] =
	"SELECT id, name, role, created_at, last_used_at FROM tokens"
	" WHERE revoked_at IS NULL AND id > ? ORDER BY id LIMIT ?";
static const char SQL_GET[] =
	"SELECT id, name, role, created_at, last_used_at FROM tokens"
	" WHERE revoked_at IS NULL AND id = ?";
static const char SQL_ADMINS[] =
	"SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked_at IS NULL";

int tokens_create(struct db *db, const char *name, const char *role,
		  char secret[TOKENS_SECRET_LEN + 1], long long *id, struct kiln_err *err)
{
	unsigned char rnd[32];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kiln_errf(err, KILN_EIO, "", "getrandom failed: %s", strerror(errno));
	memcpy(secret, "kiln_", 5);
	random_hex(rnd, sizeof(rnd), secret + 5);
	char hash[BLOB_HEX_LEN + 1], now[32];
	blob_sha256_hex(secret, TOKENS_SECRET_LEN, hash);
	db_now(now, sizeof(now));
	sqlite3_stmt *st = db_stmt(db, SQL_INSERT);
	if (st == NULL)
		return db_fail(db, err, "cannot create token");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	db_stmt_done(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "cannot create token");
	*id = sqlite3_last_insert_rowid(db_conn(db));
	return 0;
}

int tokens_check(struct db *db, const char *secret, struct tokens_who *who,
		 struct kiln_err *err)
{
	size_t len = strlen(secret);
	if (len != TOKENS_SECRET_LEN || strncmp(secret, "kiln_", 5) != 0)
		return kiln_errf(err, KILN_EAUTH, "", "the bearer token is not a Kiln token "
				 "(kiln_ followed by 64 hex digits)");
	char hash[BLOB_HEX_LEN + 1];
	blob_sha256_hex(secret, len, hash);
	if (cache_get(token_cache, db, hash, who, NULL))
		return 0;
	unsigned long gen = gen_now(); /* before the read: see the top of this file */
	sqlite3_stmt *st = db_stmt(db, SQL_BY_HASH);
	if (st == NULL)
		return db_fail(db, err, "cannot check token");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_stmt_done(st);
		if (rc != SQLITE_DONE)
			return db_fail(db, err, "cannot check token");
		return kiln_errf(err, KILN_EAUTH, "", "unknown token");
	}
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		db_stmt_done(st);
		return kiln_errf(err, KILN_EAUTH, "", "this token was revoked");
	}
	who->id = sqlite3_column_int64(st, 0);
	snprintf(who->name, sizeof(who->name), "%s", col_text(st, 1));
	snprintf(who->role, sizeof(who->role), "%s", col_text(st, 2));
	const char *last = (const char *)sqlite3_column_text(st, 3);
	int touch = last == NULL || time(NULL) - iso_time(last) >= LAST_USED_EVERY_S;
	db_stmt_done(st);
	cache_put(token_cache, db, hash, gen, time(NULL) + TOKENS_CACHE_TTL_S, who, NULL);
	if (touch && (st = db_stmt(db, SQL_TOUCH)) != NULL) {
		char now[32];
		db_now(now, sizeof(now));
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, who->id);
		sqlite3_step(st); /* best effort: a busy db must not fail the request */
		db_stmt_done(st);
	}
	return 0;
}

int tokens_revoke(struct db *db, long long id, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return db_fail(db, err, "cannot revoke token");
	/* One write transaction, so two admins revoking each other at once
	 * cannot both pass the last-admin check. */
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot revoke token");
	int rc = 0;
	sqlite3_stmt *st = db_stmt(db, SQL_REVOKABLE);
	if (st == NULL) {
		rc = db_fail(db, err, "cannot revoke token");
	} else {
		sqlite3_bind_int64(st, 1, id);
		int s = sqlite3_step(st);
		if (s == SQLITE_DONE)
			rc = kiln_errf(err, KILN_ENOTFOUND, "id", "no active token with id %lld", id);
		else if (s != SQLITE_ROW)
			rc = db_fail(db, err, "cannot revoke token");
		else if (strcmp(col_text(st, 0), "admin") == 0 && sqlite3_column_int(st, 1) <= 1)
			rc = kiln_errf(err, KILN_ECONFLICT, "id",
				       "token %lld is the last admin token; create another admin "
				       "token before revoking it", id);
		db_stmt_done(st);
	}
	if (rc == 0) {
		char now[32];
		db_now(now, sizeof(now));
		if ((st = db_stmt(db, SQL_REVOKE)) == NULL) {
			rc = db_fail(db, err, "cannot revoke token");
		} else {
			sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 2, id);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = db_fail(db, err, "cannot revoke token");
			db_stmt_done(st);
		}
	}
	if (rc == 0 && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		gen_bump(); /* after the commit: a read before it carries the old generation */
		return 0;
	}
	if (rc == 0)
		rc = db_fail(db, err, "cannot revoke token");
	sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static cJSON *row_json(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
	cJSON_AddStringToObject(o, "name", col_text(st, 1));
	cJSON_AddStringToObject(o, "role", col_text(st, 2));
	cJSON_AddStringToObject(o, "created", col_text(st, 3));
	if (sqlite3_column_type(st, 4) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "last_used");
	else
		cJSON_AddStringToObject(o, "last_used", col_text(st, 4));
	return o;
}

cJSON *tokens_list(struct db *db, int limit, long long after, long long *next,
		   struct kiln_err *err)
{
	*next = 0;
	sqlite3_stmt *st = db_stmt(db, SQL_LIST);
	if (st == NULL) {
		db_fail(db, err, "cannot list tokens");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit + 1); /* one more tells whether a next page exists */
	cJSON *arr = cJSON_CreateArray();
	int n = 0, rc;
	long long last = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == limit) {
			*next = last;
			break;
		}
		last = sqlite3_column_int64(st, 0);
		cJSON_AddItemToArray(arr, row_json(st));
		n++;
	}
	db_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cJSON_Delete(arr);
		db_fail(db, err, "cannot list tokens");
		return NULL;
	}
	return arr;
}

cJSON *tokens_get(struct db *db, long long id, struct kiln_err *err)
{
	sqlite3_stmt *st = db_stmt(db, SQL_GET);
	if (st == NULL) {
		db_fail(db, err, "cannot read token");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	cJSON *o = NULL;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		o = row_json(st);
	else if (rc == SQLITE_DONE)
		kiln_errf(err, KILN_ENOTFOUND, "id", "no active token with id %lld", id);
	else
		db_fail(db, err, "cannot read token");
	db_stmt_done(st);
	return o;
}

/* Writes admin.token with mode 0600 via a temporary file and rename. */
static int write_token_file(const char *data_dir, const char *secret, struct kiln_err *err)
{
	char path[1200], tmp[1300];
	snprintf(path, sizeof(path), "%s/admin.token", data_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", tmp, strerror(errno));
	char line[TOKENS_SECRET_LEN + 2];
	snprintf(line, sizeof(line), "%s\n", secret);
	ssize_t w = write(fd, line, strlen(line));
	int ok = w == (ssize_t)strlen(line) && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

int tokens_bootstrap(struct db *db, const char *data_dir, int *created, struct kiln_err *err)
{
	*created = 0;
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = db_stmt(db, SQL_ADMINS);
	if (c == NULL || st == NULL)
		return db_fail(db, err, "cannot count admin tokens");
	int have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	db_stmt_done(st);
	if (have != 0)
		return have < 0 ? db_fail(db, err, "cannot count admin tokens") : 0;
	/* Row and file together or neither: a row whose secret never reached
	 * admin.token would lock the operator out on the next start. */
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot create the admin token");
	char secret[TOKENS_SECRET_LEN + 1];
	long long id;
	int rc = tokens_create(db, "admin", "admin", secret, &id, err);
	if (rc == 0)
		rc = write_token_file(data_dir, secret, err);
	if (rc == 0 && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(db, err, "cannot create the admin token");
	if (rc != 0) {
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	*created = 1;
	return 0;
}

/* --- sessions -------------------------------------------------------------- */

static const char SQL_SWEEP[] = "DELETE FROM sessions WHERE expires_at <= ?";
static const char SQL_SESSION_INSERT[] =
	"INSERT INTO sessions(hash, token, created_at, expires_at) VALUES (?, ?, ?, ?)";
static const char SQL_SESSION_CHECK[] =
	"SELECT t.id, t.name, t.role, s.expires_at FROM sessions s JOIN tokens t ON t.id = s.token"
	" WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL";
static const char SQL_SESSION_DELETE[] = "DELETE FROM sessions WHERE hash = ?";

static int session_well_formed(const char *sid)
{
	if (strlen(sid) != TOKENS_SESSION_LEN)
		return 0;
	for (const char *s = sid; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

int tokens_session_create(struct db *db, long long token_id, long ttl_s,
			  char sid[TOKENS_SESSION_LEN + 1], char *expires, struct kiln_err *err)
{
	unsigned char rnd[TOKENS_SESSION_LEN / 2];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kiln_errf(err, KILN_EIO, "", "getrandom failed: %s", strerror(errno));
	random_hex(rnd, sizeof(rnd), sid);
	char hash[BLOB_HEX_LEN + 1], now[32];
	blob_sha256_hex(sid, TOKENS_SESSION_LEN, hash);
	db_now(now, sizeof(now));
	/* In db_now()'s format, so text order is time order. */
	time_t end = time(NULL) + ttl_s;
	struct tm tm;
	gmtime_r(&end, &tm);
	strftime(expires, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	/* Sweep first; failing to sweep must not stop a sign-in. */
	sqlite3_stmt *st = db_stmt(db, SQL_SWEEP);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
		db_stmt_done(st);
	}
	if ((st = db_stmt(db, SQL_SESSION_INSERT)) == NULL)
		return db_fail(db, err, "cannot start session");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, token_id);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, expires, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	db_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, "cannot start session");
}

int tokens_session_check(struct db *db, const char *sid, struct tokens_who *who,
			 char *expires, struct kiln_err *err)
{
	static const char gone[] = "your session has ended (expired, signed out, or its "
				   "token was revoked); sign in again";
	if (!session_well_formed(sid))
		return kiln_errf(err, KILN_EAUTH, "", "%s", gone);
	char hash[BLOB_HEX_LEN + 1], now[32];
	blob_sha256_hex(sid, TOKENS_SESSION_LEN, hash);
	if (cache_get(session_cache, db, hash, who, expires))
		return 0;
	unsigned long gen = gen_now();
	db_now(now, sizeof(now));
	sqlite3_stmt *st = db_stmt(db, SQL_SESSION_CHECK);
	if (st == NULL)
		return db_fail(db, err, "cannot check session");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_stmt_done(st);
		if (rc != SQLITE_DONE)
			return db_fail(db, err, "cannot check session");
		return kiln_errf(err, KILN_EAUTH, "", "%s", gone);
	}
	who->id = sqlite3_column_int64(st, 0);
	snprintf(who->name, sizeof(who->name), "%s", col_text(st, 1));
	snprintf(who->role, sizeof(who->role), "%s", col_text(st, 2));
	char end[32];
	snprintf(end, sizeof(end), "%s", col_text(st, 3));
	db_stmt_done(st);
	if (expires)
		memcpy(expires, end, sizeof(end));
	/* Remembered until the TTL or the session's own end, whichever is first. */
	time_t until = time(NULL) + TOKENS_CACHE_TTL_S, stop = iso_time(end);
	cache_put(session_cache, db, hash, gen, stop < until ? stop : until, who, end);
	return 0;
}

int tokens_session_delete(struct db *db, const char *sid, struct kiln_err *err)
{
	if (!session_well_formed(sid))
		return 0;
	char hash[BLOB_HEX_LEN + 1];
	blob_sha256_hex(sid, TOKENS_SESSION_LEN, hash);
	sqlite3_stmt *st = db_stmt(db, SQL_SESSION_DELETE);
	if (st == NULL)
		return db_fail(db, err, "cannot end session");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	db_stmt_done(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "cannot end session");
	gen_bump(); /* signed out: refused on the next request, on every thread */
	return 0;
}
