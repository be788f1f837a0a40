/*
 * bundles: the bundle store in sqlite (tables `bundles` and `bundle_files`).
 * Rows are written once, by the job that made the bundle (server/jobsys.c's
 * finisher calls bundles_insert); everything that reads them — the bundle
 * routes, assignments, push deployments, /pull — comes here too.  In runtime/
 * because deploy/ reads bundles too and may use nothing above runtime.
 *
 * API (any thread)
 *   bundles_get(db, id, full, &json, err)    the API record; full adds
 *                                            "manifest" and "files"
 *   bundles_list(db, target|NULL, name|NULL, after, limit, &json, err)
 *                                            {"items": [...], "next"}
 *   bundles_archive(db, id, field, sha, name|NULL, cap, target|NULL, err)
 *                                            the archive's hash, name, target
 *   bundles_file(db, id, name, sha, err)     one file's hash; KILN_ENOTFOUND
 *                                            naming "id" or "name"
 *   bundles_insert(db, bs, &row, dir, &id, err)
 *                                            the bundle row and one
 *                                            bundle_files row per file that
 *                                            dir/manifest.json lists (plus
 *                                            manifest.json), each file put in
 *                                            the blob store; one transaction.
 *                                            Call with blobrefs held.
 * Not found is KILN_ENOTFOUND "no bundle with id N" on `field` ("id" when
 * the bundle is the route's own).
 */
#ifndef KILN_BUNDLES_H
#define KILN_BUNDLES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

#define BUNDLES_TARGET_MAX 40

/* What the finisher knows of a new bundle; the files come from its dir. */
struct bundle_row {
	long long job;
	const char *name;
	const char *target;
	const char *sha256;     /* the packed archive's blob */
	uint64_t size;
	int simulated;
};

int bundles_get(struct db *db, long long id, int full, cJSON **json, struct kiln_err *err);
int bundles_list(struct db *db, const char *target, const char *name, long long after,
		 int limit, cJSON **json, struct kiln_err *err);
int bundles_archive(struct db *db, long long id, const char *field, char sha[BLOB_HEX_LEN + 1],
		    char *name, size_t name_cap, char target[BUNDLES_TARGET_MAX],
		    struct kiln_err *err);
int bundles_file(struct db *db, long long id, const char *name, char sha[BLOB_HEX_LEN + 1],
		 struct kiln_err *err);
int bundles_insert(struct db *db, struct blob_store *bs, const struct bundle_row *row,
		   const char *dir, long long *id, struct kiln_err *err);

#endif
