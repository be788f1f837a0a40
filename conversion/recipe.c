/*
 * recipe: the table of recipes, the helpers they share and bundle staging
 * (see recipe.h).
 *
 * Recipes build argv arrays, never command strings: runtime/plan_sh.c is
 * the only place text for a shell is made, and it quotes every element.
 */
#include "conversion/recipe.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conversion/mud.h"
#include "conversion/recipe_axera_pi.h"
#include "conversion/recipe_maixcam.h"
#include "conversion/recipe_maixcam2.h"
#include "conversion/recipe_metis.h"
#include "conversion/recipe_recamera.h"
#include "runtime/fsutil.h"

/* Each board's recipe and its version are in its row of the board table
 * (targets.c: recipe, recipe_version). */

void recipe_paths_default(struct recipe_paths *p)
{
	p->model = "model.onnx";
	p->images_dir = "images";
	p->images_tar = "images.tar";
	p->test_image = NULL;
}

/* The board's spec checks its plan makes that can be made at submit, once
 * the calibration count is fitted to the dataset (a 1-image dataset on
 * Metis is a 400, not a job failing at plan): struct target.submit_check. */
int recipe_check(const struct job_spec *s, struct kiln_err *err)
{
	return s->t && s->t->submit_check ? s->t->submit_check(s, err) : 0;
}

const char *recipe_version(const char *target)
{
	const struct target *t = targets_find(target);
	return t ? t->recipe_version : NULL;
}

static int in_outputs(const cJSON *insp, const char *name)
{
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(insp, "outputs");
	for (const cJSON *o = outs ? outs->child : NULL; o; o = o->next) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return 1;
	}
	return 0;
}

int recipe_needs_cut(const struct job_spec *s, const cJSON *insp)
{
	if (s->t->multi_output_cut || s->n_outputs == 0 || insp == NULL)
		return 0;
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(insp, "outputs");
	if ((size_t)cJSON_GetArraySize(outs) != s->n_outputs)
		return 1;
	for (size_t i = 0; i < s->n_outputs; i++)
		if (!in_outputs(insp, s->outputs[i]))
			return 1;
	return 0;
}

int recipe_output_rank(const cJSON *insp, const char *name)
{
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(insp, "outputs");
	for (const cJSON *o = outs ? outs->child : NULL; o; o = o->next) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
			const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape");
			return cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
		}
	}
	return -1;
}

static void free_files(struct recipe_out *r)
{
	for (size_t i = 0; i < r->n_files; i++) {
		free(r->files[i].name);
		free(r->files[i].src);
		free(r->files[i].content);
	}
	free(r->files);
}

void recipe_out_free(struct recipe_out *r)
{
	if (r == NULL)
		return;
	plan_free(r->plan);
	free_files(r);
	free(r);
}

int recipe_plan(const struct job_spec *s, const cJSON *insp, const struct recipe_paths *paths,
		struct recipe_out **out, struct kiln_err *err)
{
	*out = NULL;
	kiln_err_clear(err);
	const char *const names[] = {paths->model, paths->images_dir, paths->images_tar,
				     paths->test_image};
	const char *const fields[] = {"paths.model", "paths.images_dir", "paths.images_tar",
				      "paths.test_image"};
	for (int i = 0; i < 4; i++)
		if (names[i] && !plan_path_ok(names[i]))
			return kiln_errf(err, KILN_EINTERNAL, fields[i],
					 "%s is not a workspace-relative path", fields[i]);
	if (paths->model == NULL)
		return kiln_errf(err, KILN_EINTERNAL, "paths.model", "paths.model is required");
	if (s->n_outputs == 0)
		return kiln_errf(err, KILN_EINVAL, "outputs", "outputs are \"suggested\" but no "
				 "model inspection was given to resolve them");
	if (s->rank == 0)
		return kiln_errf(err, KILN_EINVAL, "input.shape", "input.shape is required (no "
				 "model inspection was given to read it from)");
	if (recipe_needs_cut(s, insp))
		return kiln_errf(err, KILN_ECONFLICT, "outputs",
				 "%s's toolchain (%s) cannot cut the graph: cut the model at the "
				 "chosen outputs first and plan with the cut model",
				 s->t->id, s->t->toolchain);
	recipe_fn fn = s->t->recipe;
	const char *version = s->t->recipe_version;
	if (fn == NULL || version == NULL)
		return kiln_errf(err, KILN_EINTERNAL, "target", "no recipe for %s", s->t->id);
	struct recipe_out *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->plan = plan_new()) == NULL) {
		free(r);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	snprintf(r->version, sizeof(r->version), "%s", version);
	struct recipe_ctx c = {s, insp, paths};
	int rc = fn(&c, r, err);
	if (rc == 0)
		rc = plan_validate(r->plan, err);
	if (rc != 0) {
		recipe_out_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* --- helpers ---------------------------------------------------------------- */

void recipe_argv_add(struct recipe_argv *a, const char *s)
{
	if (s == NULL || a->n >= PLAN_MAX_ARGS) {
		a->oom = 1;
		return;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void recipe_argv_addf(struct recipe_argv *a, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int k = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (k < 0 || a->n_owned >= PLAN_MAX_ARGS) {
		free(k < 0 ? NULL : s);
		a->oom = 1;
		return;
	}
	a->owned[a->n_owned++] = s;
	recipe_argv_add(a, s);
}

void recipe_argv_free(struct recipe_argv *a)
{
	for (size_t i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	a->n_owned = a->n = 0;
}

int recipe_step(struct recipe_out *out, const struct recipe_step_def *d, struct kiln_err *err)
{
	if (d->argv->oom)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory building step %s", d->name);
	struct plan_step_spec sp = {
		.name = d->name, .argv = d->argv->v, .toolchain = d->toolchain,
		.timeout_s = d->timeout_s, .outputs = d->outputs, .weight = d->weight,
		.parser = d->parser,
	};
	return plan_add_step(out->plan, &sp, err);
}

int recipe_file(struct recipe_out *out, const char *name, char *text, struct kiln_err *err)
{
	if (text == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int rc = plan_add_file(out->plan, name, text, strlen(text), 0, err);
	free(text);
	return rc;
}

int recipe_bundle(struct recipe_out *out, const char *name, const char *src, const char *content,
		  struct kiln_err *err)
{
	if (!plan_path_ok(name) || (src && !plan_path_ok(src)))
		return kiln_errf(err, KILN_EINTERNAL, "bundle", "bad bundle file name %s", name);
	struct recipe_bundle_file *nf = realloc(out->files, (out->n_files + 1) * sizeof(*nf));
	if (nf == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	out->files = nf;
	struct recipe_bundle_file f = {strdup(name), src ? strdup(src) : NULL,
				       content ? strdup(content) : NULL,
				       content ? strlen(content) : 0};
	if (!f.name || (src && !f.src) || (content && !f.content)) {
		free(f.name);
		free(f.src);
		free(f.content);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	out->files[out->n_files++] = f;
	return 0;
}

/* '"', '\\' and '\'' escaped, \n \r \t by name, other control bytes as
 * three-digit octal: what protobuf's CEscape writes and its text-format
 * tokenizer reads back; bytes >= 0x80 stay as they are (UTF-8, which the
 * tokenizer takes verbatim). */
char *recipe_pb_quote(const char *v)
{
	char *o = malloc(strlen(v) * 4 + 3);
	if (o == NULL)
		return NULL;
	size_t n = 0;
	o[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		const char *named = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\'' ? "\\'"
				    : *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
		if (named) {
			memcpy(o + n, named, 2);
			n += 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)sprintf(o + n, "\\%03o", *p);
		} else {
			o[n++] = (char)*p;
		}
	}
	o[n++] = '"';
	o[n] = '\0';
	return o;
}

double recipe_tidy(double v)
{
	char buf[40];
	snprintf(buf, sizeof(buf), "%.12g", v);
	return strtod(buf, NULL);
}

void recipe_shape_text(const struct job_spec *s, char *buf, size_t cap)
{
	size_t off = (size_t)snprintf(buf, cap, "[[");
	for (int i = 0; i < s->rank && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? "," : "",
					(long long)s->shape[i]);
	if (off < cap)
		snprintf(buf + off, cap - off, "]]");
}

char *recipe_outputs_joined(const struct job_spec *s)
{
	size_t cap = 1;
	for (size_t i = 0; i < s->n_outputs; i++)
		cap += strlen(s->outputs[i]) + 1;
	char *j = malloc(cap);
	if (j == NULL)
		return NULL;
	size_t off = 0;
	j[0] = '\0';
	for (size_t i = 0; i < s->n_outputs; i++)
		off += (size_t)snprintf(j + off, cap - off, "%s%s", i ? "," : "", s->outputs[i]);
	return j;
}

int recipe_bundle_mud(struct recipe_out *out, const struct job_spec *s, const char *model,
		      const char *npu, const char *vnpu, struct kiln_err *err)
{
	struct mud *m;
	int rc = mud_for_spec(s, model, npu, vnpu, &m, err);
	if (rc != 0)
		return rc;
	char *text = mud_to_text(m);
	mud_free(m);
	if (text == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	char name[PLAN_NAME_MAX + 8];
	snprintf(name, sizeof(name), "%s.mud", s->name);
	rc = recipe_bundle(out, name, NULL, text, err);
	free(text);
	return rc;
}

/* --- staging ---------------------------------------------------------------- */

static int mkdirs_for(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

int recipe_stage_bundle(const struct recipe_out *r, const char *workspace, const char *dir,
			struct kiln_err *err)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return kiln_errf(err, KILN_EIO, "bundle", "cannot create %s: %s", dir,
				 strerror(errno));
	for (size_t i = 0; i < r->n_files; i++) {
		const struct recipe_bundle_file *f = &r->files[i];
		char to[4096], from[4096];
		snprintf(to, sizeof(to), "%s/%s", dir, f->name);
		if (mkdirs_for(to) != 0)
			return kiln_errf(err, KILN_EIO, "bundle", "cannot create the directory of "
					 "%s: %s", to, strerror(errno));
		if (f->src) {
			snprintf(from, sizeof(from), "%s/%s", workspace, f->src);
			struct kiln_err ce;
			if (fs_copy_file(from, to, &ce) != 0) {
				int missing = access(from, F_OK) != 0;
				return kiln_errf(err, missing ? KILN_ENOTFOUND : KILN_EIO,
						 "bundle", "cannot copy %s into the bundle: %s",
						 f->src, missing ? strerror(ENOENT) : ce.msg);
			}
			continue;
		}
		int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || fs_write_all(fd, f->content, f->size) != 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return kiln_errf(err, KILN_EIO, "bundle", "cannot write %s: %s", to,
					 strerror(e));
		}
		if (close(fd) != 0)
			return kiln_errf(err, KILN_EIO, "bundle", "cannot write %s", to);
	}
	return 0;
}
