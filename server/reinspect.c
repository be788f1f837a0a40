/*
 * reinspect: re-inspects stored models whose inspection predates this
 * kilnd's (see reinspect.h).  The rows are the models store's
 * (runtime/models.h: models_stale, models_set_inspection); this file only
 * parses each blob again.
 */
#include "server/reinspect.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include "conversion/onnx.h"
#include "runtime/models.h"

/* The record's new inspection text, or NULL (err says why). */
static char *inspect_blob(const struct blob_store *blobs, const char *sha, struct kiln_err *err)
{
	char path[4200];
	struct onnx_model *m = NULL;
	if (blob_path(blobs, sha, path, sizeof(path), err) != 0 || onnx_open(path, &m, err) != 0)
		return NULL;
	cJSON *insp = onnx_inspect_json(m);
	onnx_close(m);
	char *text = insp ? cJSON_PrintUnformatted(insp) : NULL;
	cJSON_Delete(insp);
	malloc_trim(0);  /* as after an upload: a big model's parse goes back */
	if (text == NULL)
		kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	return text;
}

int reinspect_stale(struct db *db, const struct blob_store *blobs, int *done, int *failed,
		    struct kiln_err *err)
{
	*done = *failed = 0;
	long long *ids = NULL;
	int rc = models_stale(db, ONNX_INSPECTION_VERSION, &ids, err);
	for (size_t i = 0; rc == 0 && ids[i] >= 0; i++) {
		char sha[BLOB_HEX_LEN + 1] = "";
		struct kiln_err e;
		kiln_err_clear(&e);
		rc = models_source(db, ids[i], "id", sha, NULL, &e);
		if (rc == KILN_ENOTFOUND) {
			rc = 0;
			continue;   /* deleted meanwhile */
		}
		if (rc != 0) {
			*err = e;
			break;
		}
		char *text = inspect_blob(blobs, sha, &e);
		if (text == NULL) {
			fprintf(stderr, "level=warn msg=\"model %lld keeps its old inspection: %s\"\n",
				ids[i], e.msg);
			(*failed)++;
			continue;
		}
		rc = models_set_inspection(db, ids[i], text, err);
		free(text);
		if (rc == 0)
			(*done)++;
	}
	free(ids);
	return rc;
}
