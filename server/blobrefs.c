/*
 * blobrefs: the tables that name blobs (see blobrefs.h).  Adding a table
 * that stores blob hashes means adding its row here.
 */
#include "blobrefs.h"

#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t refs_lock = PTHREAD_MUTEX_INITIALIZER;

void blobrefs_lock(void)
{
	pthread_mutex_lock(&refs_lock);
}

void blobrefs_unlock(void)
{
	pthread_mutex_unlock(&refs_lock);
}

static const struct {
	const char *table;
	const char *column;
} REFS[] = {
	{"models", "sha256"},
	{"datasets", "sha256"},
	{"dataset_images", "sha256"},
	{"bundles", "sha256"},
	{"bundle_files", "sha256"},
};

/* 1 when some row names hex, 0 when none, -1 on a database error. */
static int referenced(sqlite3 *c, const char *hex)
{
	for (size_t i = 0; i < sizeof(REFS) / sizeof(REFS[0]); i++) {
		char sql[200];
		/* Table and column come from the constant table above, never
		 * from input, so formatting them into SQL is safe. */
		snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE %s = ? LIMIT 1", REFS[i].table,
			 REFS[i].column);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) {
			sqlite3_finalize(st);
			continue; /* a table a later migration adds */
		}
		sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc == SQLITE_ROW)
			return 1;
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int blobrefs_release(struct db *db, struct blob_store *bs, const char *hex)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return 0;
	struct kiln_err err;
	blobrefs_lock();
	int named = referenced(c, hex);
	int rc = named != 0 ? 0 : blob_remove(bs, hex, &err);
	blobrefs_unlock();
	if (rc != 0)
		fprintf(stderr, "level=warn msg=\"cannot remove blob\" sha256=%s error=\"%s\"\n",
			hex, err.msg);
	return named == 0 && rc == 0;
}
