/*
 * datasets: the calibration-set store (see datasets.h).  Every statement on
 * `datasets` and `dataset_images` is here;
 * DATASET_COLS is the one column list the record is built from.
 */
#include "runtime/datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/jobs.h"

#define DATASET_COLS "id, name, sha256, size, set_sha256, images, report, created_at, " \
	"state, progress, error"

/* The images of a dataset in set order, as JSON; NULL on a database error. */
static cJSON *dataset_images_json(sqlite3 *c, long long id)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c, "SELECT sha256, entry, width, height FROM dataset_images"
			       " WHERE dataset = ? ORDER BY position", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	cJSON *arr = cJSON_CreateArray();
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "sha256", (const char *)sqlite3_column_text(st, 0));
		cJSON_AddStringToObject(o, "entry", (const char *)sqlite3_column_text(st, 1));
		cJSON_AddNumberToObject(o, "width", sqlite3_column_int(st, 2));
		cJSON_AddNumberToObject(o, "height", sqlite3_column_int(st, 3));
		cJSON_AddItemToArray(arr, o);
	}
	sqlite3_finalize(st);
	return arr;
}

/* A datasets row as its API record; with_images adds the image list. */
static cJSON *dataset_json(sqlite3 *c, sqlite3_stmt *st, int with_images)
{
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
	const char *state = (const char *)sqlite3_column_text(st, 8);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "progress", sqlite3_column_double(st, 9));
	cJSON *error = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL :
		       cJSON_Parse((const char *)sqlite3_column_text(st, 10));
	cJSON_AddItemToObject(o, "error", error ? error : cJSON_CreateNull());
	/* Hashes exist only once the set is ready; until then null. */
	const char *sha = (const char *)sqlite3_column_text(st, 2);
	const char *set = (const char *)sqlite3_column_text(st, 4);
	if (sha && sha[0])
		cJSON_AddStringToObject(o, "sha256", sha);
	else
		cJSON_AddNullToObject(o, "sha256");
	cJSON_AddNumberToObject(o, "size", (double)sqlite3_column_int64(st, 3));
	if (set && set[0])
		cJSON_AddStringToObject(o, "set_sha256", set);
	else
		cJSON_AddNullToObject(o, "set_sha256");
	cJSON_AddNumberToObject(o, "images", sqlite3_column_int(st, 5));
	cJSON *report = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
	cJSON *before = report ? cJSON_DetachItemFromObject(report, "entries_before_error") : NULL;
	if (before)
		cJSON_AddItemToObject(o, "entries_before_error", before);
	/* While ingesting the report is {}: empty lists, not missing keys. */
	cJSON *rej = report ? cJSON_DetachItemFromObject(report, "rejected") : NULL;
	cJSON *stats = report ? cJSON_DetachItemFromObject(report, "stats") : NULL;
	cJSON_AddItemToObject(o, "rejected", rej ? rej : cJSON_CreateArray());
	cJSON_AddItemToObject(o, "stats", stats ? stats : cJSON_CreateObject());
	cJSON_Delete(report);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 7));
	if (with_images) {
		cJSON *imgs = dataset_images_json(c, id);
		cJSON_AddItemToObject(o, "image_list", imgs ? imgs : cJSON_CreateArray());
	}
	return o;
}

int datasets_create(struct db *db, const char *name, uint64_t size, long long *id,
		    cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "INSERT INTO datasets(name, sha256, size, set_sha256,"
					   " images, report, created_at, state, progress)"
					   " VALUES (?, '', ?, '', 0, '{}', ?, 'ingesting', 0)",
					   -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot store the dataset");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	int ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return db_err(c, err, "cannot store the dataset");
	*id = sqlite3_last_insert_rowid(c);
	return datasets_get(db, *id, 0, json, err);
}

void datasets_progress(struct db *db, long long id, double done)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c && sqlite3_prepare_v2(c, "UPDATE datasets SET progress = ? WHERE id = ?"
				    " AND state = 'ingesting'", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_double(st, 1, done > 0.99 ? 0.99 : done); /* 1 = stored */
		sqlite3_bind_int64(st, 2, id);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

/* Makes row id ready with the ingest's result, its archive blob and its
 * images, in one transaction. */
int datasets_set_ready(struct db *db, long long id, const char *sha, const char *set_sha,
		       const struct datasets_image *images, size_t n, const char *report,
		       struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return db_err(c, err, "cannot store the dataset");
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot store the dataset");
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(c, "UPDATE datasets SET sha256 = ?, set_sha256 = ?, images = ?,"
				    " report = ?, state = 'ready', progress = 1, error = NULL"
				    " WHERE id = ?", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(st, 1, sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, set_sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)n);
		sqlite3_bind_text(st, 4, report, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, id);
		ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(c) == 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (ok)
		ok = sqlite3_prepare_v2(c, "INSERT INTO dataset_images(dataset, position, sha256, entry,"
					" width, height) VALUES (?, ?, ?, ?, ?, ?)",
					-1, &st, NULL) == SQLITE_OK;
	for (size_t i = 0; ok && i < n; i++) {
		const struct datasets_image *im = &images[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_text(st, 3, im->sha256, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, im->entry, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 5, (int)im->width);
		sqlite3_bind_int(st, 6, (int)im->height);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (ok && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	int rc = db_err(c, err, "cannot store the dataset");
	sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

void datasets_set_error(struct db *db, long long id, const char *state, const char *text,
			const char *report)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c && text && sqlite3_prepare_v2(c, "UPDATE datasets SET state = ?, error = ?,"
					    " report = coalesce(?, report) WHERE id = ?", -1, &st,
					    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
		if (report)
			sqlite3_bind_text(st, 3, report, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int64(st, 4, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			fprintf(stderr, "level=error dataset=%lld msg=\"cannot record the ingest's "
				"end: %s\"\n", id, sqlite3_errmsg(c));
	}
	sqlite3_finalize(st);
}

int datasets_recover(struct db *db, const char *error_json)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "UPDATE datasets SET state = 'failed', error = ?"
					   " WHERE state = 'ingesting'", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_bind_text(st, 1, error_json, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	int n = sqlite3_changes(c);
	sqlite3_finalize(st);
	return n;
}

static cJSON *list_row(void *ctx, sqlite3_stmt *st)
{
	cJSON *d = dataset_json(ctx, st, 0);
	cJSON_DeleteItemFromObject(d, "rejected"); /* lists stay small */
	return d;
}

int datasets_list(struct db *db, long long after, int limit, cJSON **json, struct kiln_err *err)
{
	return db_list(db, "SELECT " DATASET_COLS " FROM datasets WHERE id > ?1 ORDER BY id"
		       " LIMIT ?2", after, limit, list_row, db_conn(db), "cannot list datasets",
		       json, err);
}

static cJSON *record_row(void *ctx, sqlite3_stmt *st) { return dataset_json(ctx, st, 0); }
static cJSON *full_row(void *ctx, sqlite3_stmt *st) { return dataset_json(ctx, st, 1); }

int datasets_get(struct db *db, long long id, int with_images, cJSON **json,
		 struct kiln_err *err)
{
	return db_get(db, "SELECT " DATASET_COLS " FROM datasets WHERE id = ?", id,
		      with_images ? full_row : record_row, db_conn(db), "dataset",
		      "cannot read dataset", json, err);
}

int datasets_ingesting(struct db *db, long long id)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	int ingesting = 0;
	if (c && sqlite3_prepare_v2(c, "SELECT state = 'ingesting' FROM datasets WHERE id = ?", -1,
				    &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			ingesting = sqlite3_column_int(st, 0) != 0;
	}
	sqlite3_finalize(st);
	return ingesting;
}

/* datasets_delete's checks and delete, inside its transaction. */
static int delete_unused(struct db *db, sqlite3 *c, long long id, struct kiln_err *err)
{
	if (datasets_ingesting(db, id))
		return kiln_errf(err, KILN_ECONFLICT, "id", "dataset %lld is still being "
				 "ingested; wait for GET /api/v1/datasets/%lld?wait=60", id, id);
	char jobs[200];
	if (jobs_active_using(db, JOBS_USES_DATASET, id, jobs, sizeof(jobs)) != 0)
		return db_err(c, err, "cannot check the dataset's jobs");
	if (jobs[0])
		return kiln_errf(err, KILN_ECONFLICT, "id",
				 "dataset %lld is used by a queued or running job (%s); cancel "
				 "the job or wait for it to finish", id, jobs);
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(c, "DELETE FROM datasets WHERE id = ?", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, id);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return ok ? 0 : db_err(c, err, "cannot delete dataset");
}

int datasets_delete(struct db *db, long long id, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	/* One write transaction from the checks to the delete, as in
	 * models_delete: a submit asks for the set again in the transaction
	 * that queues its job (jobs_conf.check_sources), so either it finds
	 * the set gone or this finds its job. */
	if (c == NULL || sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot delete dataset");
	int rc = delete_unused(db, c, id, err);
	if (rc == 0 && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_err(c, err, "cannot delete dataset");
	if (rc != 0)
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int datasets_image_at(struct db *db, long long id, long long position,
		      char sha[BLOB_HEX_LEN + 1])
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	sha[0] = '\0';
	if (c && sqlite3_prepare_v2(c, "SELECT sha256 FROM dataset_images WHERE dataset = ?"
				    " AND position = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, position);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return sha[0] ? 0 : KILN_ENOTFOUND;
}

/* --- for jobs: a spec names its set by id text ---------------------------------- */

static int no_dataset(const char *id, struct kiln_err *err)
{
	return kiln_errf(err, KILN_ENOTFOUND, "dataset", "no dataset with id '%.40s'", id);
}

int datasets_source(struct db *db, const char *id, char set_sha[BLOB_HEX_LEN + 1],
		    long long *images, struct kiln_err *err)
{
	long long n;
	if (db_parse_id(id, &n) != 0)
		return no_dataset(id, err);
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT set_sha256, state, images FROM datasets"
					   " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read the dataset");
	sqlite3_bind_int64(st, 1, n);
	int rc = 0;
	int s = sqlite3_step(st);
	const char *state = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
	/* An upload answers 202 before its images exist: only a finished,
	 * accepted set can calibrate. */
	if (state && strcmp(state, "ready") != 0) {
		rc = kiln_errf(err, strcmp(state, "ingesting") == 0 ? KILN_ECONFLICT : KILN_EUNPROC,
			       "dataset", "dataset %lld is %s%s", n, state,
			       strcmp(state, "ingesting") == 0 ?
			       ": wait for GET /api/v1/datasets/{id}?wait=60 to say ready" :
			       "; it has no images (see its error), upload the archive again");
	} else if (s == SQLITE_ROW) {
		snprintf(set_sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		if (images)
			*images = sqlite3_column_int64(st, 2);
	} else if (s == SQLITE_DONE) {
		rc = kiln_errf(err, KILN_ENOTFOUND, "dataset", "no dataset with id %lld", n);
	} else {
		rc = db_err(c, err, "cannot read the dataset");
	}
	sqlite3_finalize(st);
	return rc;
}

void datasets_free_shas(char **shas, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(shas[i]);
	free(shas);
}

/* Calls fn(ctx, sha, entry) for each image of set ds in set order until fn
 * returns non-zero, which is returned; 0 after the last; a database failure
 * is db_err. */
typedef int (*image_fn)(void *ctx, const char *sha, const char *entry);
static int each_image(struct db *db, long long ds, image_fn fn, void *ctx, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT sha256, entry FROM dataset_images"
					   " WHERE dataset = ? ORDER BY position", -1, &st,
					   NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read the dataset's images");
	sqlite3_bind_int64(st, 1, ds);
	int rc = 0, s;
	while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(ctx, (const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1));
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_err(c, err, "cannot read the dataset's images");
	sqlite3_finalize(st);
	return rc;
}

struct sha_list {
	char **v;
	size_t n, cap;
	struct kiln_err *err;
};

static int add_sha(void *ctx, const char *sha, const char *entry)
{
	struct sha_list *l = ctx;
	(void)entry;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		char **nv = realloc(l->v, nc * sizeof(char *));
		if (nv == NULL)
			return kiln_errf(l->err, KILN_ENOMEM, "", "out of memory");
		l->v = nv;
		l->cap = nc;
	}
	if ((l->v[l->n] = strdup(sha)) == NULL)
		return kiln_errf(l->err, KILN_ENOMEM, "", "out of memory");
	l->n++;
	return 0;
}

int datasets_image_shas(struct db *db, const char *id, char ***out, size_t *n,
			struct kiln_err *err)
{
	long long ds;
	*out = NULL;
	*n = 0;
	if (db_parse_id(id, &ds) != 0)
		return no_dataset(id, err);
	struct sha_list l = {.err = err};
	int rc = each_image(db, ds, add_sha, &l, err);
	if (rc == 0 && l.n == 0)
		rc = kiln_errf(err, KILN_ENOTFOUND, "dataset", "dataset %lld has no images", ds);
	if (rc != 0) {
		datasets_free_shas(l.v, l.n);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* 1 when name names the archive entry: the whole entry, its last part, or
 * that part without its extension. */
static int entry_matches(const char *entry, const char *name)
{
	if (strcmp(entry, name) == 0)
		return 1;
	const char *base = strrchr(entry, '/');
	base = base ? base + 1 : entry;
	if (strcmp(base, name) == 0)
		return 1;
	const char *dot = strrchr(base, '.');
	size_t stem = dot ? (size_t)(dot - base) : strlen(base);
	return strlen(name) == stem && strncmp(base, name, stem) == 0;
}

struct image_match {
	const char *name;
	char *sha;
};

static int match_image(void *ctx, const char *sha, const char *entry)
{
	struct image_match *m = ctx;
	if (strcmp(sha, m->name) != 0 && !entry_matches(entry, m->name))
		return 0;
	snprintf(m->sha, BLOB_HEX_LEN + 1, "%s", sha);
	return 1;
}

int datasets_find_image(struct db *db, const char *id, const char *name,
			char sha[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	long long ds;
	if (db_parse_id(id, &ds) != 0)
		return no_dataset(id, err);
	struct image_match m = {name, sha};
	int rc = each_image(db, ds, match_image, &m, err);
	if (rc == 1)
		return 0;
	/* 400, not 404: the request's field is wrong, no path names a missing
	 * record (issue 16: "400 naming the field"). */
	if (rc == 0)
		rc = kiln_errf(err, KILN_EINVAL, "test_image",
			       "test_image '%.64s' is not an image of dataset %lld: give an image's "
			       "sha256 or its file name from the archive", name, ds);
	return rc;
}

void datasets_image_entry(struct db *db, const char *id, const char *sha, char *entry,
			  size_t cap)
{
	long long ds;
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	entry[0] = '\0';
	if (db_parse_id(id, &ds) != 0 || c == NULL ||
	    sqlite3_prepare_v2(c, "SELECT entry FROM dataset_images WHERE dataset = ? AND"
			       " sha256 = ? ORDER BY position LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, ds);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(entry, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

int datasets_images_json(struct db *db, const char *id, cJSON **json, struct kiln_err *err)
{
	long long ds;
	*json = NULL;
	if (db_parse_id(id, &ds) != 0)
		return no_dataset(id, err);
	sqlite3 *c = db_conn(db);
	if (c == NULL || (*json = dataset_images_json(c, ds)) == NULL)
		return db_err(c, err, "cannot read the dataset's images");
	return 0;
}
