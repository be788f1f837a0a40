/*
 * deployments: the deployment store (see deployments.h).  DEPLOY_COLS is the
 * one column list the record is built from.
 */
#include "deploy/deployments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPLOY_COLS "id, device, bundle, state, runs, install, steps, result, error," \
	" created_at, started_at, finished_at, preview IS NOT NULL"

static void add_text_or_null(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, (const char *)sqlite3_column_text(st, col));
}

static cJSON *deployment_json(void *ctx, sqlite3_stmt *st)
{
	(void)ctx;
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddNumberToObject(o, "device", (double)sqlite3_column_int64(st, 1));
	cJSON_AddNumberToObject(o, "bundle", (double)sqlite3_column_int64(st, 2));
	cJSON_AddStringToObject(o, "state", (const char *)sqlite3_column_text(st, 3));
	cJSON_AddNumberToObject(o, "runs", sqlite3_column_int(st, 4));
	cJSON_AddBoolToObject(o, "install", sqlite3_column_int(st, 5) != 0);
	cJSON *steps = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
	cJSON_AddItemToObject(o, "steps", steps ? steps : cJSON_CreateArray());
	cJSON *res = sqlite3_column_type(st, 7) == SQLITE_NULL ? NULL :
		     cJSON_Parse((const char *)sqlite3_column_text(st, 7));
	cJSON_AddItemToObject(o, "result", res ? res : cJSON_CreateNull());
	add_text_or_null(o, "error", st, 8);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 9));
	add_text_or_null(o, "started", st, 10);
	add_text_or_null(o, "finished", st, 11);
	if (sqlite3_column_int(st, 12)) {
		char href[80];
		snprintf(href, sizeof(href), "/api/v1/deployments/%lld/preview", id);
		cJSON_AddStringToObject(o, "preview", href);
	} else {
		cJSON_AddNullToObject(o, "preview");
	}
	return o;
}

int deployments_insert(struct db *db, const struct deployment_row *r, long long *id,
		       struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	int rc = SQLITE_ERROR;
	if (c && sqlite3_prepare_v2(c, "INSERT INTO deployments(device, bundle, runs, install,"
				    " test_image, created_at) VALUES (?, ?, ?, ?, ?, ?)", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, r->device);
		sqlite3_bind_int64(st, 2, r->bundle);
		sqlite3_bind_int(st, 3, r->runs);
		sqlite3_bind_int(st, 4, r->install);
		if (r->image)
			sqlite3_bind_blob(st, 5, r->image, (int)r->image_len, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		*id = sqlite3_last_insert_rowid(c);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(c, err, "cannot queue the deployment");
}

int deployments_get(struct db *db, long long id, cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DEPLOY_COLS ", raw_output FROM deployments"
					   " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read deployment");
	sqlite3_bind_int64(st, 1, id);
	int rc = 0, s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		*json = deployment_json(NULL, st);
		add_text_or_null(*json, "raw_output", st, 13);
	} else if (s == SQLITE_DONE) {
		rc = kiln_errf(err, KILN_ENOTFOUND, "id", "no deployment with id %lld", id);
	} else {
		rc = db_err(c, err, "cannot read deployment");
	}
	sqlite3_finalize(st);
	return rc;
}

int deployments_list(struct db *db, long long device, long long after, int limit, cJSON **json,
		     struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DEPLOY_COLS " FROM deployments WHERE id > ?1"
					   " AND (?2 = 0 OR device = ?2) ORDER BY id LIMIT ?3", -1,
					   &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot list deployments");
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, device);
	sqlite3_bind_int(st, 3, limit + 1);
	*json = db_page(st, limit, deployment_json, NULL);
	return 0;
}

void deployments_state(struct db *db, long long id, char *state, size_t cap)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	state[0] = '\0';
	if (c && sqlite3_prepare_v2(c, "SELECT state FROM deployments WHERE id = ?", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(state, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
}

int deployments_preview(struct db *db, long long id, unsigned char **jpeg, size_t *len)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*jpeg = NULL;
	*len = 0;
	if (c && sqlite3_prepare_v2(c, "SELECT preview FROM deployments WHERE id = ?", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		int n;
		if (sqlite3_step(st) == SQLITE_ROW && (n = sqlite3_column_bytes(st, 0)) > 0 &&
		    (*jpeg = malloc((size_t)n)) != NULL) {
			memcpy(*jpeg, sqlite3_column_blob(st, 0), (size_t)n);
			*len = (size_t)n;
		}
	}
	sqlite3_finalize(st);
	return *jpeg ? 0 : KILN_ENOTFOUND;
}

int deployments_active(struct db *db, long long device)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT count(*) FROM deployments WHERE device = ?"
					   " AND state IN ('queued', 'running')", -1, &st,
					   NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, device);
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

long long deployments_claim(struct db *db)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	if (c == NULL || sqlite3_prepare_v2(c, "UPDATE deployments SET state = 'running',"
					   " started_at = ? WHERE id = (SELECT id FROM deployments"
					   " WHERE state = 'queued' ORDER BY id LIMIT 1) RETURNING id",
					   -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	long long id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return id;
}

int deployments_load(struct db *db, long long id, struct deployment_work *j,
		     struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	memset(j, 0, sizeof(*j));
	j->id = id;
	if (c == NULL || sqlite3_prepare_v2(c,
		"SELECT d.device, d.bundle, d.runs, d.install, d.test_image,"
		" v.name, v.target, v.transport, coalesce(v.address, ''), v.models_dir,"
		" b.name, b.target, b.sha256, b.manifest"
		" FROM deployments d JOIN devices v ON v.id = d.device"
		" LEFT JOIN bundles b ON b.id = d.bundle WHERE d.id = ?", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read deployment");
	sqlite3_bind_int64(st, 1, id);
	int rc = 0;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = kiln_errf(err, KILN_ENOTFOUND, "", "the device of this deployment was deleted");
	} else if (sqlite3_column_type(st, 12) == SQLITE_NULL) {
		j->device = sqlite3_column_int64(st, 0);
		j->bundle = sqlite3_column_int64(st, 1);
		rc = kiln_errf(err, KILN_ENOTFOUND, "bundle", "bundle %lld no longer exists",
			       j->bundle);
	} else {
		j->device = sqlite3_column_int64(st, 0);
		j->bundle = sqlite3_column_int64(st, 1);
		j->runs = sqlite3_column_int(st, 2);
		j->install = sqlite3_column_int(st, 3);
		int n = sqlite3_column_bytes(st, 4);
		if (n > 0 && (j->image = malloc((size_t)n)) != NULL) {
			memcpy(j->image, sqlite3_column_blob(st, 4), (size_t)n);
			j->image_len = (size_t)n;
		}
#define COPY(dst, col) snprintf(dst, sizeof(dst), "%s", (const char *)sqlite3_column_text(st, col))
		COPY(j->name, 5);
		COPY(j->target, 6);
		COPY(j->transport, 7);
		COPY(j->address, 8);
		COPY(j->models_dir, 9);
		COPY(j->bundle_name, 10);
		COPY(j->bundle_target, 11);
		COPY(j->sha, 12);
#undef COPY
		j->manifest = strdup((const char *)sqlite3_column_text(st, 13));
	}
	sqlite3_finalize(st);
	return rc;
}

void deployments_work_free(struct deployment_work *w)
{
	free(w->image);
	free(w->manifest);
	w->image = NULL;
	w->manifest = NULL;
}

void deployments_set_steps(struct db *db, long long id, const char *steps)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "UPDATE deployments SET steps = ?2 WHERE id = ?1",
					   -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "level=error deployment=%lld msg=\"cannot update: %s\"\n", id,
			c ? sqlite3_errmsg(c) : "no connection");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, steps, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		fprintf(stderr, "level=error deployment=%lld msg=\"cannot update: %s\"\n", id,
			sqlite3_errmsg(c));
	sqlite3_finalize(st);
}

void deployments_finish(struct db *db, long long id, const struct deployment_end *e)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	if (c && sqlite3_prepare_v2(c, "UPDATE deployments SET state = ?2, error = ?3, result = ?4,"
				    " raw_output = coalesce(?5, raw_output), preview = ?6,"
				    " steps = ?7, finished_at = ?8 WHERE id = ?1", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, e->state, -1, SQLITE_STATIC);
		if (e->error)
			sqlite3_bind_text(st, 3, e->error, -1, SQLITE_TRANSIENT);
		if (e->result)
			sqlite3_bind_text(st, 4, e->result, -1, SQLITE_TRANSIENT);
		if (e->raw)
			sqlite3_bind_text(st, 5, e->raw, -1, SQLITE_TRANSIENT);
		if (e->preview)
			sqlite3_bind_blob(st, 6, e->preview, (int)e->preview_len, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 7, e->steps ? e->steps : "[]", -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			fprintf(stderr, "level=error deployment=%lld msg=\"cannot finish: %s\"\n",
				id, sqlite3_errmsg(c));
	}
	sqlite3_finalize(st);
}

int deployments_fail_interrupted(struct db *db)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL ||
	    sqlite3_exec(c, "UPDATE deployments SET state = 'failed', error = 'kilnd stopped "
			 "during this deployment; start it again' WHERE state = 'running'",
			 NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	return sqlite3_changes(c);
}
