/*
 * bundle: a finished job's bundle directory -> manifest.json -> one
 * deterministic .tar.gz in the blob store; and the result-cache key.
 *
 * A bundle directory holds the .mud (or model.json), the compiled files and
 * the test image, staged by recipe_stage_bundle().  bundle_write_manifest()
 * adds manifest.json (schema/manifest.schema.json): {name, target, created,
 * files: [{name, size, sha256}] (sorted, manifest.json itself excluded),
 * job, model_sha256, dataset_sha256, toolchain, similarity, simulated}.
 * bundle_pack() writes every file as a ustar entry in byte order of its
 * path, with a fixed mtime, mode 0644, uid/gid 0 and uname/gname "kiln",
 * through gzip without a timestamp or name: the same directory always gives
 * the same bytes, so the archive's sha256 is a stable ETag.
 *
 * API
 *   bundle_manifest(dir, &info, &json, err)   build the manifest object (new
 *                                             cJSON, caller cJSON_Delete()s)
 *   bundle_write_manifest(dir, &info, err)    ... and write it (tmp + fsync +
 *                                             rename) as dir/manifest.json
 *   bundle_pack(dir, bs, hex, &size, err)     archive into the blob store;
 *                                             hex gets its sha256 (65 bytes)
 *   bundle_pack_file(dir, path, err)          the same archive to a file (tests,
 *                                             a future CLI)
 *   bundle_cache_key(&key_in, hex)            sha256 over the cache inputs
 *
 * Limits: BUNDLE_MAX_FILES files, BUNDLE_MAX_DEPTH directory levels; links
 * and special files are refused (a bundle is only what the recipe staged).
 * Knows nothing of HTTP, threads or the database.
 */
#ifndef KILN_BUNDLE_H
#define KILN_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/kiln_err.h"

#define BUNDLE_MAX_FILES 1024
#define BUNDLE_MAX_DEPTH 8
/* Every entry's mtime: 2000-01-01T00:00:00Z.  Not the build time, or two
 * packs of the same files would differ. */
#define BUNDLE_MTIME 946684800

struct bundle_info {
	const char *name;            /* the job spec's name */
	const char *target;
	const char *created;         /* RFC 3339 UTC, e.g. the job's finish time */
	long long job;               /* the job's id; 0 = none (null) */
	const char *model_sha256;
	const char *dataset_sha256;  /* the calibration set's set_sha256 */
	const char *toolchain;       /* toolchain id */
	const char *toolchain_image; /* image or "local:<path>"; may be NULL */
	const cJSON *similarity;     /* the job's figures (array); NULL = [] */
	int simulated;               /* made with the toolchain double */
};

int bundle_manifest(const char *dir, const struct bundle_info *info, cJSON **out,
		    struct kiln_err *err);
int bundle_write_manifest(const char *dir, const struct bundle_info *info, struct kiln_err *err);
int bundle_pack(const char *dir, struct blob_store *bs, char hex[BLOB_HEX_LEN + 1],
		uint64_t *size, struct kiln_err *err);
int bundle_pack_file(const char *dir, const char *path, struct kiln_err *err);

struct bundle_key_in {
	const char *model_sha256;    /* sha256 of the model's bytes */
	const char *dataset_sha256;  /* set_sha256: the calibration set's content list */
	const char *spec_canonical;  /* spec_canonical() */
	const char *toolchain_image; /* image id (or "local:<path>") the steps run in */
	const char *recipe_version;  /* recipe_version(target) */
};

/* hex gets 64 lowercase hex digits + NUL.  Each input is length-prefixed,
 * so no two different input lists hash the same text. */
void bundle_cache_key(const struct bundle_key_in *in, char hex[BLOB_HEX_LEN + 1]);

#endif
