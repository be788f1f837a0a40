/*
 * devices: the device store (see devices.h).  DEVICE_COLS is the one column
 * list the record is built from; the assignment and the last reports are
 * read with it.
 */
#include "deploy/devices.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DEVICE_COLS "id, name, target, transport, address, models_dir, token, ssh_public_key," \
	" created_at, last_seen_at, installed_bundle, last_status, last_detail"

static void add_text_or_null(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, (const char *)sqlite3_column_text(st, col));
}

static void add_int_or_null(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, (double)sqlite3_column_int64(st, col));
}

/* The bundle an assignment `a` of device `d` resolves to now, as the
 * condition joining `b` (bundles): the exact one, or one of that name for
 * the device's target (the newest: ORDER BY b.id DESC LIMIT 1). */
#define RESOLVED_BUNDLE \
	"(a.bundle IS NOT NULL AND b.id = a.bundle) OR" \
	" (a.bundle IS NULL AND b.name = a.model_name AND b.target = d.target)"

long long devices_resolve(struct db *db, long long device, char sha[BLOB_HEX_LEN + 1],
			  char *name, size_t name_cap)
{
	/* Asked for every device record shown: prepared once per thread. */
	sqlite3_stmt *st = db_conn(db) ? db_stmt(db,
		"SELECT b.id, b.sha256, b.name FROM assignments a JOIN devices d ON d.id = a.device"
		" JOIN bundles b ON " RESOLVED_BUNDLE
		" WHERE a.device = ? ORDER BY b.id DESC LIMIT 1") : NULL;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, device);
	long long id = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		if (sha)
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 1));
		if (name)
			snprintf(name, name_cap, "%s", (const char *)sqlite3_column_text(st, 2));
	} else if (rc != SQLITE_DONE) {
		id = -1;
	}
	db_stmt_done(st);
	return id;
}

static cJSON *device_json(struct db *db, sqlite3 *c, sqlite3_stmt *st, int full)
{
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
	cJSON_AddStringToObject(o, "target", (const char *)sqlite3_column_text(st, 2));
	cJSON_AddStringToObject(o, "transport", (const char *)sqlite3_column_text(st, 3));
	add_text_or_null(o, "address", st, 4);
	cJSON_AddStringToObject(o, "models_dir", (const char *)sqlite3_column_text(st, 5));
	cJSON_AddNumberToObject(o, "token_id", (double)sqlite3_column_int64(st, 6));
	add_text_or_null(o, "ssh_public_key", st, 7);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 8));
	add_text_or_null(o, "last_seen", st, 9);
	add_int_or_null(o, "installed_bundle", st, 10);
	add_text_or_null(o, "last_status", st, 11);
	add_text_or_null(o, "last_detail", st, 12);
	sqlite3_stmt *as = NULL;
	cJSON *asg = NULL;
	if (sqlite3_prepare_v2(c, "SELECT model_name, bundle, set_at FROM assignments"
			       " WHERE device = ?", -1, &as, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(as, 1, id);
		if (sqlite3_step(as) == SQLITE_ROW) {
			asg = cJSON_CreateObject();
			add_text_or_null(asg, "model_name", as, 0);
			add_int_or_null(asg, "bundle", as, 1);
			cJSON_AddStringToObject(asg, "set", (const char *)sqlite3_column_text(as, 2));
			long long b = devices_resolve(db, id, NULL, NULL, 0);
			if (b > 0)
				cJSON_AddNumberToObject(asg, "resolved_bundle", (double)b);
			else
				cJSON_AddNullToObject(asg, "resolved_bundle");
		}
	}
	sqlite3_finalize(as);
	cJSON_AddItemToObject(o, "assignment", asg ? asg : cJSON_CreateNull());
	if (!full)
		return o;
	cJSON *reps = cJSON_AddArrayToObject(o, "reports");
	sqlite3_stmt *rs = NULL;
	if (sqlite3_prepare_v2(c, "SELECT id, bundle, status, detail, created_at FROM"
			       " device_reports WHERE device = ? ORDER BY id DESC LIMIT ?",
			       -1, &rs, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(rs, 1, id);
		sqlite3_bind_int(rs, 2, DEVICES_REPORTS_SHOWN);
		while (sqlite3_step(rs) == SQLITE_ROW) {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddNumberToObject(r, "id", (double)sqlite3_column_int64(rs, 0));
			add_int_or_null(r, "bundle", rs, 1);
			cJSON_AddStringToObject(r, "status", (const char *)sqlite3_column_text(rs, 2));
			add_text_or_null(r, "detail", rs, 3);
			cJSON_AddStringToObject(r, "created", (const char *)sqlite3_column_text(rs, 4));
			cJSON_AddItemToArray(reps, r);
		}
	}
	sqlite3_finalize(rs);
	return o;
}

/* One list row: the record without its details. */
static cJSON *device_json_row(void *ctx, sqlite3_stmt *st)
{
	struct db *db = ctx;
	return device_json(db, db_conn(db), st, 0);
}

static cJSON *device_full_row(void *ctx, sqlite3_stmt *st)
{
	struct db *db = ctx;
	return device_json(db, db_conn(db), st, 1);
}

int devices_get(struct db *db, long long id, int full, cJSON **json, struct kiln_err *err)
{
	return db_get(db, "SELECT " DEVICE_COLS " FROM devices WHERE id = ?", id,
		      full ? device_full_row : device_json_row, db, "device",
		      "cannot read device", json, err);
}

int devices_list(struct db *db, long long after, int limit, cJSON **json, struct kiln_err *err)
{
	return db_list(db, "SELECT " DEVICE_COLS " FROM devices WHERE id > ?1 ORDER BY id"
		       " LIMIT ?2", after, limit, device_json_row, db, "cannot list devices",
		       json, err);
}

int devices_insert(struct db *db, const struct device_row *d, long long *id,
		   struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return db_err(c, err, "cannot store device");
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_ERROR;
	if (sqlite3_prepare_v2(c, "INSERT INTO devices(name, target, transport, address, models_dir,"
			       " token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, d->name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, d->target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, d->transport, -1, SQLITE_TRANSIENT);
		if (d->address)
			sqlite3_bind_text(st, 4, d->address, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, d->models_dir, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 6, d->token_id);
		sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		*id = sqlite3_last_insert_rowid(c);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (sqlite3_extended_errcode(c) == SQLITE_CONSTRAINT_UNIQUE)
		return kiln_errf(err, KILN_ECONFLICT, "name", "a device named '%s' exists; "
				 "pick another name or DELETE it first", d->name);
	return db_err(c, err, "cannot store device");
}

int devices_set_ssh_key(struct db *db, long long id, const char *pub, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_ERROR;
	if (c && sqlite3_prepare_v2(c, "UPDATE devices SET ssh_public_key = ? WHERE id = ?",
				    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, pub, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, id);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : kiln_errf(err, KILN_EIO, "", "cannot store the public key");
}

void devices_remove(struct db *db, long long id)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c && sqlite3_prepare_v2(c, "DELETE FROM devices WHERE id = ?", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

int devices_assign(struct db *db, long long id, const char *model_name, long long bundle,
		   struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	if (c == NULL || sqlite3_prepare_v2(c, "INSERT INTO assignments(device, model_name, bundle,"
					   " set_at) VALUES (?, ?, ?, ?) ON CONFLICT(device) DO"
					   " UPDATE SET model_name = excluded.model_name,"
					   " bundle = excluded.bundle, set_at = excluded.set_at",
					   -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot store assignment");
	sqlite3_bind_int64(st, 1, id);
	if (model_name)
		sqlite3_bind_text(st, 2, model_name, -1, SQLITE_TRANSIENT);
	if (bundle > 0)
		sqlite3_bind_int64(st, 3, bundle);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(c, err, "cannot store assignment");
}

int devices_by_token(struct db *db, long long token_id, long long *id, struct kiln_err *err)
{
	return devices_pull(db, token_id, id, NULL, NULL, NULL, 0, err);
}

/* A fleet polls every minute, and most polls are 304s: one statement, kept
 * prepared per thread (db_stmt), finds the device, whether last_seen is due,
 * and the bundle its assignment resolves to (issue 19: parsing the two
 * queries this used to take cost more than running them).
 *
 * Its answer is then kept per thread (pull_cache) while db_changes() stays
 * where it was before the query: any committed change to devices,
 * assignments or bundles, by any store or cascade, makes every thread ask
 * again, so an assignment is seen on the next poll.  The profile of 1000
 * devices' 304s had sqlite's read transaction (WAL locks) as the largest
 * piece of the route.  An entry is also asked again after PULL_CACHE_S, so
 * last_seen still moves at most DEVICES_SEEN_REFRESH_S + PULL_CACHE_S late. */
#define PULL_CACHE_S 1
#define PULL_CACHE_SLOTS 64

struct pull_slot {
	unsigned long db;          /* db_serial() */
	unsigned long changes;     /* db_changes() before the read */
	time_t until;
	long long token_id, id, bundle;
	char sha[BLOB_HEX_LEN + 1];
	char name[256];
};

static _Thread_local struct pull_slot pull_cache[PULL_CACHE_SLOTS];

static int pull_read(struct db *db, long long token_id, struct pull_slot *out,
		     struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = c ? db_stmt(db,
		"SELECT d.id, d.last_seen_at IS NULL OR d.last_seen_at <"
		" strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?), b.id, b.sha256, b.name FROM devices d"
		" LEFT JOIN assignments a ON a.device = d.id LEFT JOIN bundles b ON " RESOLVED_BUNDLE
		" WHERE d.token = ? ORDER BY b.id DESC LIMIT 1") : NULL;
	if (st == NULL)
		return db_err(c, err, "cannot read device");
	char ago[32];
	snprintf(ago, sizeof(ago), "-%d seconds", DEVICES_SEEN_REFRESH_S);
	sqlite3_bind_text(st, 1, ago, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, token_id);
	int stale = 0, rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		stale = sqlite3_column_int(st, 1);
		out->bundle = sqlite3_column_int64(st, 2); /* NULL reads as 0 */
		if (out->bundle) {
			snprintf(out->sha, sizeof(out->sha), "%s", (const char *)sqlite3_column_text(st, 3));
			snprintf(out->name, sizeof(out->name), "%s", (const char *)sqlite3_column_text(st, 4));
		}
	}
	db_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(c, err, "cannot read device");
	if (out->id != 0 && stale)
		devices_seen(db, out->id);
	return 0;
}

int devices_pull(struct db *db, long long token_id, long long *id, long long *bundle,
		 char sha[BLOB_HEX_LEN + 1], char *name, size_t name_cap, struct kiln_err *err)
{
	struct pull_slot *s = &pull_cache[(unsigned long long)token_id % PULL_CACHE_SLOTS];
	struct pull_slot fresh = {0};
	unsigned long changes;
	int counted = db_changes(db, &changes) == 0;
	time_t now = time(NULL);
	if (!counted || s->db != db_serial(db) || s->changes != changes || s->until <= now ||
	    s->token_id != token_id) {
		int rc = pull_read(db, token_id, &fresh, err);
		if (rc != 0)
			return rc;
		fresh.db = db_serial(db);
		fresh.changes = changes;
		fresh.until = now + PULL_CACHE_S;
		fresh.token_id = token_id;
		/* A token of no device is not kept: it is not the fleet's hot
		 * path, and the entry would only cost a slot. */
		*s = fresh.id != 0 && counted ? fresh : (struct pull_slot){0};
		s = &fresh;
	}
	*id = s->id;
	if (bundle) {
		*bundle = s->bundle;
		snprintf(sha, BLOB_HEX_LEN + 1, "%s", s->bundle ? s->sha : "");
		snprintf(name, name_cap, "%s", s->bundle ? s->name : "");
	}
	return 0;
}

int devices_report(struct db *db, long long dev, long long bundle, const char *status,
		   const char *detail, const char *now, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return db_err(c, err, "cannot store the report");
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(c, "INSERT INTO device_reports(device, bundle, status, detail,"
			       " created_at) VALUES (?, ?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, dev);
		if (bundle)
			sqlite3_bind_int64(st, 2, bundle);
		sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
		if (detail)
			sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	} else {
		rc = SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(c, "UPDATE devices SET last_seen_at = ?2, last_status = ?3,"
			       " last_detail = ?4, installed_bundle = CASE WHEN ?3 = 'installed'"
			       " OR (?3 = 'current' AND ?5 IS NOT NULL) THEN ?5 ELSE"
			       " installed_bundle END WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, dev);
		sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
		if (detail)
			sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
		if (bundle)
			sqlite3_bind_int64(st, 5, bundle);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	} else if (rc == SQLITE_OK) {
		rc = SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Keep the newest DEVICES_REPORTS_KEPT per device: a board reporting
	 * from cron every minute must not grow the database without bound. */
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(c, "DELETE FROM device_reports WHERE device = ?1 AND id <="
			       " (SELECT id FROM device_reports WHERE device = ?1 ORDER BY id DESC"
			       " LIMIT 1 OFFSET ?2)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, dev);
		sqlite3_bind_int(st, 2, DEVICES_REPORTS_KEPT);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		int e = db_err(c, err, "cannot store the report");
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		return e;
	}
	sqlite3_exec(c, "COMMIT", NULL, NULL, NULL);
	return 0;
}

void devices_seen(struct db *db, long long id)
{
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st = db_conn(db) ? db_stmt(db, "UPDATE devices SET last_seen_at = ? WHERE id = ?")
				       : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_step(st);
		db_stmt_done(st);
	}
}
