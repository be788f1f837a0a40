/*
 * bundle_add: a test tool that makes a real bundle the way a finished job
 * does — manifest.json and a deterministic .tar.gz (conversion/bundle.h),
 * the archive and each file stored as blobs — and inserts its bundles and
 * bundle_files rows, so the bundle, pull and deploy tests serve real
 * archives before (and independently of) the job runner.
 *
 *   bundle_add DATA_DIR DIR NAME TARGET [--simulated]
 *       prints {"id": N, "sha256": "...", "size": N} on stdout.
 *
 * kilnd may be running: sqlite's WAL and busy timeout let both write.  The
 * database must exist (kilnd started once on DATA_DIR).  It is a test tool:
 * arguments are trusted; errors are printed and end it with status 1.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/blob.h"
#include "conversion/bundle.h"
#include "runtime/db.h"

static int die(const char *what, const struct kiln_err *err)
{
	fprintf(stderr, "bundle_add: %s: %s\n", what, err ? err->msg : "");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: bundle_add DATA_DIR DIR NAME TARGET [--simulated]\n");
		return 2;
	}
	const char *data = argv[1], *dir = argv[2], *name = argv[3], *target = argv[4];
	int simulated = argc > 5 && strcmp(argv[5], "--simulated") == 0;
	struct kiln_err err;
	kiln_err_clear(&err);
	char created[32];
	db_now(created, sizeof(created));
	created[19] = 'Z'; /* the manifest wants seconds precision or any fraction; keep it plain */
	created[20] = '\0';
	struct bundle_info info = {.name = name, .target = target, .created = created,
				   .toolchain = "tpu-mlir", .simulated = simulated};
	if (bundle_write_manifest(dir, &info, &err) != 0)
		return die("manifest", &err);
	struct blob_store *bs = NULL;
	struct db *db = NULL;
	char dbpath[2048];
	snprintf(dbpath, sizeof(dbpath), "%s/kiln.db", data);
	if (blob_store_open(data, &bs, &err) != 0)
		return die("blob store", &err);
	if (db_open(dbpath, &db, &err) != 0)
		return die("database", &err);
	char hex[BLOB_HEX_LEN + 1];
	uint64_t size;
	if (bundle_pack(dir, bs, hex, &size, &err) != 0)
		return die("pack", &err);
	char mpath[2048];
	snprintf(mpath, sizeof(mpath), "%s/manifest.json", dir);
	FILE *f = fopen(mpath, "r");
	static char man[1 << 20];
	size_t mlen = f ? fread(man, 1, sizeof(man) - 1, f) : 0;
	if (f)
		fclose(f);
	man[mlen] = '\0';
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(c, "INSERT INTO bundles(job, name, target, sha256, size, manifest,"
			       " simulated, created_at) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)", -1, &st,
			       NULL) != SQLITE_OK)
		return die(sqlite3_errmsg(c), NULL);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
	sqlite3_bind_text(st, 5, man, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, simulated);
	sqlite3_bind_text(st, 7, created, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return die(sqlite3_errmsg(c), NULL);
	sqlite3_finalize(st);
	long long id = sqlite3_last_insert_rowid(c);
	/* Each top-level file as its own blob, as the job runner stores them. */
	cJSON *m = cJSON_Parse(man);
	cJSON *files = cJSON_GetObjectItem(m, "files");
	for (cJSON *it = files ? files->child : NULL; it; it = it->next) {
		const char *fn = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
		char p[4096], fhex[BLOB_HEX_LEN + 1];
		snprintf(p, sizeof(p), "%s/%s", dir, fn);
		if (blob_put_file(bs, p, fhex, &err) != 0)
			return die(fn, &err);
		struct stat sb;
		stat(p, &sb);
		if (sqlite3_prepare_v2(c, "INSERT INTO bundle_files(bundle, name, sha256, size)"
				       " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
			return die(sqlite3_errmsg(c), NULL);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, fn, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, fhex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)sb.st_size);
		if (sqlite3_step(st) != SQLITE_DONE)
			return die(sqlite3_errmsg(c), NULL);
		sqlite3_finalize(st);
	}
	cJSON_Delete(m);
	if (sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return die(sqlite3_errmsg(c), NULL);
	printf("{\"id\": %lld, \"sha256\": \"%s\", \"size\": %llu}\n", id, hex,
	       (unsigned long long)size);
	db_close(db);
	blob_store_close(bs);
	return 0;
}
