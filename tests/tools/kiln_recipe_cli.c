/*
 * kiln_recipe_cli: a thin command line over the conversion library
 * (conversion/convert.h, and targets, spec, mud and bundle for the checks
 * around it), so the Python tests (tests/conversion/) can check
 * the C validator against the JSON Schema, run plans against the toolchain
 * double and check manifests against their schema.  Built by `make
 * tests-build` into $(BUILD)/tools/; not installed.
 *
 *   kiln_recipe_cli targets                       GET /api/v1/targets body
 *   kiln_recipe_cli spec SPEC.json [INSPECTION.json]
 *       {"ok": true, "canonical": {...}} or {"ok": false, "error": {...}}
 *   kiln_recipe_cli plan SPEC.json INSPECTION.json [TEST_IMAGE]
 *       {"plan": ..., "bundle": [{"name", "src" | "content"}], "version",
 *        "needs_cut", "sh"}   (convert_plan; "bundle" and "version" are the
 *        plan's own "bundle" and "recipe")
 *   kiln_recipe_cli loader SPEC.json INSPECTION.json MODEL.onnx
 *       the submit-time checks beyond the spec (recipe_check, the board's
 *       loader on the inspection and the model): {"ok": true} or refused
 *   kiln_recipe_cli stage PLAN_OUT.json WORKSPACE DIR   stage the plan's bundle files
 *   kiln_recipe_cli mud-check FILE.mud            MaixPy's checks, files next to it
 *   kiln_recipe_cli bundle DIR OUT.tar.gz [SIMULATED(0|1)]
 *       writes DIR/manifest.json, packs; prints {"manifest", "sha256"}
 *
 * Exit status: 0 done, 3 the input was refused (JSON error printed), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blob.h"
#include "runtime/plan_sh.h"
#include "conversion/bundle.h"
#include "conversion/convert.h"
#include "conversion/loader_check.h"
#include "conversion/mud.h"
#include "conversion/onnx.h"
#include "conversion/recipe.h"
#include "conversion/spec.h"
#include "conversion/targets.h"

static cJSON *read_json(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	static char buf[4 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return cJSON_ParseWithLength(buf, n);
}

static int emit(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	printf("%s\n", s ? s : "null");
	free(s);
	cJSON_Delete(j);
	return 0;
}

static int refuse(const struct kiln_err *err)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", kiln_code_name(err->code));
	cJSON_AddStringToObject(e, "field", err->field);
	cJSON_AddStringToObject(e, "message", err->msg);
	emit(o);
	return 3;
}

static int cmd_spec(int argc, char **argv)
{
	cJSON *j = read_json(argv[2]);
	cJSON *insp = argc > 3 ? read_json(argv[3]) : NULL;
	struct kiln_err err = {0};
	struct job_spec *s;
	if (j == NULL) {
		kiln_errf(&err, KILN_EINVAL, "", "not JSON");
		return refuse(&err);
	}
	int rc = spec_parse(j, insp, &s, &err);
	cJSON_Delete(j);
	cJSON_Delete(insp);
	if (rc != 0)
		return refuse(&err);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddItemToObject(o, "canonical", spec_to_json(s));
	spec_free(s);
	return emit(o);
}

/* A whole file as text; new string, caller free()s; NULL when unreadable. */
static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	static const size_t max = 4 << 20;
	char *buf = malloc(max + 1);
	*len = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (buf)
		buf[*len] = '\0';
	return buf;
}

/* convert_plan with the workspace "." (where a cut model would be read). */
static int cmd_plan(int argc, char **argv)
{
	size_t len = 0;
	char *text = read_text(argv[2], &len);
	struct kiln_err err = {0};
	struct convert_job *cj = NULL;
	struct plan *p = NULL;
	int rc = text ? convert_job_open(text, len, read_json(argv[3]), &cj, &err)
		      : kiln_errf(&err, KILN_EINVAL, "", "cannot read %s", argv[2]);
	free(text);
	/* TEST_IMAGE: the job compares on an image, put in the workspace as
	 * CONVERT_TEST_IMAGE, as kilnd does for a spec's test_image. */
	if (rc == 0 && argc > 4)
		snprintf(cj->spec->test_image, sizeof(cj->spec->test_image), "%s", argv[4]);
	if (rc == 0)
		rc = convert_plan(cj, ".", &p, &err);
	if (rc != 0) {
		convert_job_close(cj);
		return refuse(&err);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *pj = plan_to_json(p);
	cJSON_AddItemToObject(o, "plan", pj);
	cJSON_AddItemReferenceToObject(o, "bundle", cJSON_GetObjectItemCaseSensitive(pj, "bundle"));
	cJSON_AddStringToObject(o, "version", p->recipe);
	cJSON_AddBoolToObject(o, "needs_cut", cj->cut);
	struct plan_sh_opts so = {.title = "Kiln plan (kiln_recipe_cli)"};
	char *sh = plan_sh(p, &so);
	cJSON_AddStringToObject(o, "sh", sh ? sh : "");
	free(sh);
	plan_free(p);
	convert_job_close(cj);
	return emit(o);
}

/* The checks a submit makes beyond the spec (recipe_check, the board's
 * loader on the inspection and on the model's tensors): "ok" or the
 * refusal, as kilnd would answer. */
static int cmd_loader(char **argv)
{
	cJSON *j = read_json(argv[2]);
	cJSON *insp = read_json(argv[3]);
	struct kiln_err err = {0};
	struct job_spec *s = NULL;
	struct onnx_model *m = NULL;
	int rc = j ? spec_parse(j, insp, &s, &err) : kiln_errf(&err, KILN_EINVAL, "", "not JSON");
	if (rc == 0)
		rc = recipe_check(s, &err);
	if (rc == 0)
		rc = loader_check_submit(s, insp, &err);
	if (rc == 0 && (rc = onnx_open(argv[4], &m, &err)) == 0) {
		rc = loader_check_onnx(s, m, &err);
		onnx_close(m);
	}
	cJSON_Delete(j);
	cJSON_Delete(insp);
	spec_free(s);
	if (rc != 0)
		return refuse(&err);
	printf("{\"ok\": true}\n");
	return 0;
}

/* The bundle files of a plan command's output, staged from WORKSPACE into
 * DIR as convert_finish stages them (without the manifest and the loader
 * checks, which the bundle command and the tests do). */
static int cmd_stage(char **argv)
{
	cJSON *j = read_json(argv[2]);
	struct kiln_err err = {0};
	struct plan *p = NULL;
	int rc = plan_from_json(cJSON_GetObjectItemCaseSensitive(j, "plan"), &p, &err);
	cJSON_Delete(j);
	if (rc == 0)
		rc = convert_stage(p, argv[3], argv[4], &err);
	plan_free(p);
	if (rc != 0)
		return refuse(&err);
	printf("{\"ok\": true}\n");
	return 0;
}

static int cmd_mud_check(char **argv)
{
	struct mud *m;
	struct kiln_err err = {0};
	int rc = mud_read(argv[2], &m, &err);
	if (rc == 0) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", argv[2]);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		rc = mud_validate(m, dir, &err);
		mud_free(m);
	}
	if (rc != 0)
		return refuse(&err);
	printf("{\"ok\": true}\n");
	return 0;
}

static int cmd_bundle(int argc, char **argv)
{
	struct bundle_info info = {
		.name = "model", .target = "maixcam", .created = "2024-01-01T00:00:00Z",
		.job = 1, .model_sha256 = NULL, .dataset_sha256 = NULL, .toolchain = "tpu-mlir",
		.toolchain_image = "localhost/kiln-toolchain-double:latest",
		.simulated = argc > 4 ? atoi(argv[4]) : 1,
	};
	char msha[BLOB_HEX_LEN + 1], dsha[BLOB_HEX_LEN + 1];
	blob_sha256_hex("model", 5, msha);
	blob_sha256_hex("dataset", 7, dsha);
	info.model_sha256 = msha;
	info.dataset_sha256 = dsha;
	struct kiln_err err = {0};
	cJSON *m;
	int rc = bundle_write_manifest(argv[2], &info, &err);
	if (rc == 0)
		rc = bundle_pack_file(argv[2], argv[3], &err);
	if (rc == 0)
		rc = bundle_manifest(argv[2], &info, &m, &err);
	if (rc != 0)
		return refuse(&err);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "manifest", m);
	return emit(o);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "targets") == 0)
		return emit(targets_json());
	if (argc >= 3 && strcmp(argv[1], "spec") == 0)
		return cmd_spec(argc, argv);
	if (argc >= 4 && strcmp(argv[1], "plan") == 0)
		return cmd_plan(argc, argv);
	if (argc >= 5 && strcmp(argv[1], "loader") == 0)
		return cmd_loader(argv);
	if (argc >= 5 && strcmp(argv[1], "stage") == 0)
		return cmd_stage(argv);
	if (argc >= 3 && strcmp(argv[1], "mud-check") == 0)
		return cmd_mud_check(argv);
	if (argc >= 4 && strcmp(argv[1], "bundle") == 0)
		return cmd_bundle(argc, argv);
	fprintf(stderr, "usage: kiln_recipe_cli targets | spec SPEC [INSP] | plan SPEC INSP [IMG] | "
		"loader SPEC INSP MODEL | stage PLANOUT WS DIR | mud-check FILE | bundle DIR OUT [SIM]\n");
	return 2;
}
