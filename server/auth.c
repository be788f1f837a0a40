/*
 * auth: token storage and checks (see auth.h).
 *
 * The verify path runs on every authenticated request, so it is one indexed
 * SELECT on the thread's own connection; last_used_at is written at most once
 * a minute per token, because a write per request would serialise every
 * request on sqlite's single writer lock.
 */
#include "server/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/blob.h"

#define LAST_USED_EVERY_S 60

/* Verified tokens are remembered for a few seconds, so an authenticated
 * request costs a sha256 and a table probe instead of a sqlite query.
 * Revocation through this process empties the cache at once; the TTL bounds
 * how long a change made by another process (a restore, a manual UPDATE)
 * can go unseen. */
#define CACHE_SLOTS 256
#define CACHE_TTL_S 10

struct cache_slot {
	char hash[BLOB_HEX_LEN + 1];
	struct http_principal p;
	time_t until;
};

static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned cache_index(const char *hash)
{
	/* The hash is already uniform: its first 8 hex digits make a fine key. */
	return (unsigned)strtoul((char[9]){hash[0], hash[1], hash[2], hash[3], hash[4],
					  hash[5], hash[6], hash[7], 0}, NULL, 16) % CACHE_SLOTS;
}

static int cache_get(const char *hash, struct http_principal *p)
{
	struct cache_slot *s = &cache[cache_index(hash)];
	int hit = 0;
	pthread_mutex_lock(&cache_lock);
	if (s->until > time(NULL) && strcmp(s->hash, hash) == 0) {
		*p = s->p;
		hit = 1;
	}
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

static void cache_put(const char *hash, const struct http_principal *p)
{
	struct cache_slot *s = &cache[cache_index(hash)];
	pthread_mutex_lock(&cache_lock);
	memcpy(s->hash, hash, sizeof(s->hash));
	s->p = *p;
	s->until = time(NULL) + CACHE_TTL_S;
	pthread_mutex_unlock(&cache_lock);
}

static void cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	memset(cache, 0, sizeof(cache));
	pthread_mutex_unlock(&cache_lock);
}

static int write_token_file(const char *data_dir, const char *token, struct kiln_err *err);

const char *auth_role_name(enum http_role role)
{
	switch (role) {
	case ROLE_ADMIN: return "admin";
	case ROLE_USER: return "user";
	case ROLE_DEVICE: return "device";
	default: return "anonymous";
	}
}

int auth_role_parse(const char *name, enum http_role *role)
{
	if (strcmp(name, "admin") == 0)
		*role = ROLE_ADMIN;
	else if (strcmp(name, "user") == 0)
		*role = ROLE_USER;
	else if (strcmp(name, "device") == 0)
		*role = ROLE_DEVICE;
	else
		return -1;
	return 0;
}

static int db_fail(struct db *db, struct kiln_err *err, const char *what)
{
	sqlite3 *c = db_conn(db);
	return kiln_errf(err, KILN_EIO, "", "%s: %s", what, c ? sqlite3_errmsg(c) : "no connection");
}

int auth_token_create(struct db *db, const char *name, enum http_role role,
		      char token[AUTH_TOKEN_LEN + 1], long long *id, struct kiln_err *err)
{
	unsigned char rnd[32];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kiln_errf(err, KILN_EIO, "", "getrandom failed: %s", strerror(errno));
	memcpy(token, "kiln_", 5);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(token + 5 + 2 * i, 3, "%02x", rnd[i]);
	char hash[BLOB_HEX_LEN + 1], now[32];
	blob_sha256_hex(token, AUTH_TOKEN_LEN, hash);
	db_now(now, sizeof(now));
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "INSERT INTO tokens(name, role, hash, created_at)"
					   " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot create token");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, auth_role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "cannot create token");
	*id = sqlite3_last_insert_rowid(c);
	return 0;
}

/* True when the ISO time stamp is older than LAST_USED_EVERY_S seconds. */
static int stale(const char *iso)
{
	if (iso == NULL)
		return 1;
	struct tm tm = {0};
	if (strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 1;
	return time(NULL) - timegm(&tm) >= LAST_USED_EVERY_S;
}

int auth_token_verify(struct db *db, const char *token, struct http_principal *p,
		      struct kiln_err *err)
{
	size_t len = strlen(token);
	if (len != AUTH_TOKEN_LEN || strncmp(token, "kiln_", 5) != 0)
		return kiln_errf(err, KILN_EAUTH, "", "the bearer token is not a Kiln token "
				 "(kiln_ followed by 64 hex digits)");
	char hash[BLOB_HEX_LEN + 1];
	blob_sha256_hex(token, len, hash);
	if (cache_get(hash, p))
		return 0;
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT id, name, role, last_used_at, revoked_at"
					   " FROM tokens WHERE hash = ?", -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot check token");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return db_fail(db, err, "cannot check token");
		return kiln_errf(err, KILN_EAUTH, "", "unknown token");
	}
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		sqlite3_finalize(st);
		return kiln_errf(err, KILN_EAUTH, "", "this token was revoked");
	}
	p->token_id = sqlite3_column_int64(st, 0);
	snprintf(p->name, sizeof(p->name), "%s", (const char *)sqlite3_column_text(st, 1));
	enum http_role role = ROLE_ANON;
	auth_role_parse((const char *)sqlite3_column_text(st, 2), &role);
	p->role = role;
	int touch = stale((const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	cache_put(hash, p);
	if (touch && sqlite3_prepare_v2(c, "UPDATE tokens SET last_used_at = ? WHERE id = ?",
					-1, &st, NULL) == SQLITE_OK) {
		char now[32];
		db_now(now, sizeof(now));
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, p->token_id);
		sqlite3_step(st); /* best effort: a busy db must not fail the request */
		sqlite3_finalize(st);
	}
	return 0;
}

int auth_token_revoke(struct db *db, long long id, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return db_fail(db, err, "cannot revoke token");
	/* One write transaction, so two admins revoking each other at once
	 * cannot both pass the last-admin check. */
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot revoke token");
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(c, "SELECT role, (SELECT count(*) FROM tokens WHERE role = 'admin'"
			       " AND revoked_at IS NULL) FROM tokens WHERE id = ? AND revoked_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, err, "cannot revoke token");
	} else {
		sqlite3_bind_int64(st, 1, id);
		int s = sqlite3_step(st);
		if (s == SQLITE_DONE)
			rc = kiln_errf(err, KILN_ENOTFOUND, "id", "no active token with id %lld", id);
		else if (s != SQLITE_ROW)
			rc = db_fail(db, err, "cannot revoke token");
		else if (strcmp((const char *)sqlite3_column_text(st, 0), "admin") == 0 &&
			 sqlite3_column_int(st, 1) <= 1)
			rc = kiln_errf(err, KILN_ECONFLICT, "id",
				       "token %lld is the last admin token; create another admin "
				       "token before revoking it", id);
		sqlite3_finalize(st);
	}
	if (rc == 0) {
		char now[32];
		db_now(now, sizeof(now));
		if (sqlite3_prepare_v2(c, "UPDATE tokens SET revoked_at = ? WHERE id = ?", -1, &st,
				       NULL) != SQLITE_OK) {
			rc = db_fail(db, err, "cannot revoke token");
		} else {
			sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 2, id);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = db_fail(db, err, "cannot revoke token");
			sqlite3_finalize(st);
		}
	}
	if (rc == 0 && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		cache_clear();
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
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
	cJSON_AddStringToObject(o, "role", (const char *)sqlite3_column_text(st, 2));
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 3));
	if (sqlite3_column_type(st, 4) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "last_used");
	else
		cJSON_AddStringToObject(o, "last_used", (const char *)sqlite3_column_text(st, 4));
	return o;
}

cJSON *auth_token_list(struct db *db, int limit, long long after, long long *next,
		       struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*next = 0;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT id, name, role, created_at, last_used_at"
					   " FROM tokens WHERE revoked_at IS NULL AND id > ?"
					   " ORDER BY id LIMIT ?", -1, &st, NULL) != SQLITE_OK) {
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
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cJSON_Delete(arr);
		db_fail(db, err, "cannot list tokens");
		return NULL;
	}
	return arr;
}

cJSON *auth_token_get(struct db *db, long long id, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT id, name, role, created_at, last_used_at"
					   " FROM tokens WHERE revoked_at IS NULL AND id = ?",
					   -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, err, "cannot read token");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	cJSON *o = NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		o = row_json(st);
	else
		kiln_errf(err, KILN_ENOTFOUND, "id", "no active token with id %lld", id);
	sqlite3_finalize(st);
	return o;
}

int auth_bootstrap(struct db *db, const char *data_dir, int *created, struct kiln_err *err)
{
	*created = 0;
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT count(*) FROM tokens WHERE role = 'admin'"
					   " AND revoked_at IS NULL", -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot count admin tokens");
	int have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (have != 0)
		return have < 0 ? db_fail(db, err, "cannot count admin tokens") : 0;
	/* Row and file together or neither: a row whose secret never reached
	 * admin.token would lock the operator out on the next start. */
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "cannot create the admin token");
	char token[AUTH_TOKEN_LEN + 1];
	long long id;
	int rc = auth_token_create(db, "admin", ROLE_ADMIN, token, &id, err);
	if (rc == 0)
		rc = write_token_file(data_dir, token, err);
	if (rc == 0 && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(db, err, "cannot create the admin token");
	if (rc != 0) {
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	*created = 1;
	return 0;
}

/* Writes admin.token with mode 0600 via a temporary file and rename. */
static int write_token_file(const char *data_dir, const char *token, struct kiln_err *err)
{
	char path[1200], tmp[1300];
	snprintf(path, sizeof(path), "%s/admin.token", data_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", tmp, strerror(errno));
	char line[AUTH_TOKEN_LEN + 2];
	snprintf(line, sizeof(line), "%s\n", token);
	ssize_t w = write(fd, line, strlen(line));
	int ok = w == (ssize_t)strlen(line) && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}
