/*
 * convert: prepare, plan and finish one job from files (see convert.h).
 *
 * What is here was the worker hooks of server/jobsys.c: it moved down so
 * that the HTTP layer only finds the inputs (its stores) and wires the
 * worker to these calls, and so that a front end without HTTP converts
 * with the same code.  Toolchain facts (calibration layout, who checks
 * the tolerance) come from the toolchain row (runtime/toolchain.h), board
 * facts from the target row (targets.h) and the board's recipe.
 */
#include "conversion/convert.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conversion/calib.h"
#include "conversion/loader_check.h"
#include "conversion/onnx.h"
#include "conversion/recipe.h"
#include "runtime/fsutil.h"
#include "runtime/toolchain.h"

int convert_job_open(const char *spec_json, size_t len, cJSON *insp, struct convert_job **out,
		     struct kiln_err *err)
{
	*out = NULL;
	struct convert_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		cJSON_Delete(insp);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	j->insp = insp;
	int rc = spec_parse_text(spec_json, len, insp, &j->spec, err);
	if (rc != 0) {
		convert_job_close(j);
		return rc;
	}
	j->cut = recipe_needs_cut(j->spec, insp);
	*out = j;
	return 0;
}

void convert_job_close(struct convert_job *j)
{
	if (j == NULL)
		return;
	cJSON_Delete(j->insp);
	cJSON_Delete(j->cut_insp);
	spec_free(j->spec);
	free(j);
}

static void job_paths(const struct convert_job *j, struct recipe_paths *p)
{
	recipe_paths_default(p);
	if (j->spec->test_image[0])
		p->test_image = CONVERT_TEST_IMAGE;
}

static const struct toolchain *job_toolchain(const struct convert_job *j, struct kiln_err *err)
{
	const struct toolchain *tc = toolchain_find(j->spec->t->toolchain);
	if (tc == NULL)
		kiln_errf(err, KILN_EINTERNAL, "target", "target %s names toolchain %s, which has "
			  "no row in runtime/toolchain.c", j->spec->t->id, j->spec->t->toolchain);
	return tc;
}

int convert_prepare(const struct convert_job *j, const struct convert_inputs *in,
		    const char *ws, struct kiln_err *err)
{
	struct recipe_paths p;
	char dst[PATH_MAX];
	int rc;
	job_paths(j, &p);
	snprintf(dst, sizeof(dst), "%s/%s", ws, p.model);
	if (j->cut) {
		/* pulsar2, pulsar and Voyager compile the whole graph: the model
		 * they get must end at the spec's outputs. */
		struct onnx_model *m = NULL;
		if ((rc = onnx_open(in->model_path, &m, err)) != 0)
			return rc;
		rc = onnx_cut_file(m, (const char *const *)j->spec->outputs, j->spec->n_outputs, dst,
				   NULL, err);
		onnx_close(m);
	} else {
		rc = fs_copy_file(in->model_path, dst, err);
	}
	if (rc != 0 || in->n_images == 0)
		return rc;
	const struct toolchain *tc = job_toolchain(j, err);
	if (tc == NULL)
		return err->code;
	struct calib_export opt;
	calib_export_default(&opt);
	int tar = tc->calib == TOOLCHAIN_CALIB_TAR;
	opt.layout = tar ? CALIB_TAR : CALIB_DIR;
	opt.count = j->spec->calib_count > 0 ? (size_t)j->spec->calib_count : 0;
	opt.seed = CONVERT_CALIB_SEED;
	snprintf(dst, sizeof(dst), "%s/%s", ws, tar ? p.images_tar : p.images_dir);
	if ((rc = calib_materialize(in->bs, in->images, in->n_images, &opt, dst, NULL, err)) != 0)
		return rc;
	if (j->spec->test_image[0]) {
		if (in->test_image_path == NULL)
			return kiln_errf(err, KILN_ENOTFOUND, "test_image", "test_image '%.64s' was "
					 "not found", j->spec->test_image);
		snprintf(dst, sizeof(dst), "%s/%s", ws, CONVERT_TEST_IMAGE);
		rc = fs_copy_file(in->test_image_path, dst, err);
	}
	return rc;
}

int convert_plan(struct convert_job *j, const char *ws, struct plan **out, struct kiln_err *err)
{
	struct recipe_paths p;
	*out = NULL;
	job_paths(j, &p);
	if (j->cut && j->cut_insp == NULL) {
		/* planned from the model the tool gets: the cut one */
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", ws, p.model);
		struct onnx_model *m = NULL;
		int rc = onnx_open(path, &m, err);
		if (rc != 0)
			return rc;
		j->cut_insp = onnx_inspect_json(m);
		onnx_close(m);
		if (j->cut_insp == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	struct recipe_out *r = NULL;
	int rc = recipe_plan(j->spec, j->cut ? j->cut_insp : j->insp, &p, &r, err);
	/* What finishing needs travels with the plan (plan.h "bundle", "recipe"). */
	for (size_t i = 0; rc == 0 && i < r->n_files; i++)
		rc = plan_add_bundle_file(r->plan, r->files[i].name, r->files[i].src,
					  r->files[i].src ? NULL : r->files[i].content, err);
	if (rc == 0)
		rc = plan_set_recipe(r->plan, r->version, err);
	if (rc == 0) {
		*out = r->plan;
		r->plan = NULL;
	}
	recipe_out_free(r);
	return rc;
}

/* The double marks everything it writes: model files start with
 * "KILN-TOOLCHAIN-DOUBLE ...", JSON carries "kiln_toolchain_double"
 * (tests/toolchain-double/README.md).  Only what the tool produced decides,
 * so the double reached through any folder or image name is still caught
 * and a real toolchain kept under a folder named toolchain-double is not. */
static int bundle_simulated(const struct plan *p, const char *ws)
{
	for (size_t i = 0; i < p->n_bundle; i++) {
		if (p->bundle[i].src == NULL)
			continue;
		char path[PATH_MAX], head[4097];
		snprintf(path, sizeof(path), "%s/%s", ws, p->bundle[i].src);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, head, sizeof(head) - 1);
		close(fd);
		if (n <= 0)
			continue;
		head[n] = '\0';
		/* binary files may hold NULs before the JSON marker: search all n bytes */
		if (memmem(head, (size_t)n, "KILN-TOOLCHAIN-DOUBLE", 21) ||
		    memmem(head, (size_t)n, "kiln_toolchain_double", 21))
			return 1;
	}
	return 0;
}

/* Toolchains whose tool prints figures but never fails on them
 * (toolchain.h kiln_checks_tolerance: pulsar's score table): Kiln holds
 * the outputs' cosines against the spec's tolerance itself.  The others
 * fail in the tool (model_deploy --tolerance, pulsar2 compiler.check 3). */
static int check_tolerance(const struct job_spec *s, const struct toolchain *tc,
			   const cJSON *figures, struct kiln_err *err)
{
	if (!tc->kiln_checks_tolerance || s->n_tol < 1)
		return 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, figures) {
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "kind"));
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "cosine");
		const char *out = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "output"));
		const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "step"));
		if (kind == NULL || strcmp(kind, "output") != 0 || !cJSON_IsNumber(c) ||
		    c->valuedouble >= s->tol[0])
			continue;
		return kiln_errf(err, KILN_EUNPROC, "tolerance",
				 "step '%.40s': output '%.120s' cosine %.6g is below the tolerance %g "
				 "(see the results table)", step ? step : "?", out ? out : "?",
				 c->valuedouble, s->tol[0]);
	}
	return 0;
}

/* Through the recipe's stager, on a view of the plan's strings: nothing is
 * copied or freed here. */
int convert_stage(const struct plan *p, const char *ws, const char *dir, struct kiln_err *err)
{
	struct recipe_bundle_file *files = calloc(p->n_bundle + 1, sizeof(*files));
	if (files == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	for (size_t i = 0; i < p->n_bundle; i++)
		files[i] = (struct recipe_bundle_file){p->bundle[i].name, p->bundle[i].src,
						      p->bundle[i].content, p->bundle[i].size};
	struct recipe_out view = {.files = files, .n_files = p->n_bundle};
	int rc = recipe_stage_bundle(&view, ws, dir, err);
	free(files);
	return rc;
}

int convert_finish(const struct convert_job *j, const struct plan *p, const char *ws,
		   const char *dir, const cJSON *figures, struct bundle_info *info,
		   struct kiln_err *err)
{
	const struct toolchain *tc = job_toolchain(j, err);
	if (tc == NULL)
		return err->code;
	if (p->n_bundle == 0)
		return kiln_errf(err, KILN_EINTERNAL, "bundle", "the plan lists no bundle files");
	if (fs_rm_rf(dir) != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot empty %s: %s", dir, strerror(errno));
	int rc = check_tolerance(j->spec, tc, figures, err);
	if (rc == 0)
		rc = convert_stage(p, ws, dir, err);
	if (rc != 0)
		return rc;
	/* Before the bundle is marked good: would the board load it? */
	struct recipe_paths lp;
	job_paths(j, &lp);
	char model_path[PATH_MAX];
	snprintf(model_path, sizeof(model_path), "%.2000s/%.1000s", ws, lp.model);
	if ((rc = loader_check_bundle(j->spec, model_path, dir, err)) != 0)
		return rc;
	info->name = j->spec->name;
	info->target = j->spec->target;
	info->toolchain = tc->id;
	info->similarity = figures;
	info->simulated = bundle_simulated(p, ws);
	return bundle_write_manifest(dir, info, err);
}
