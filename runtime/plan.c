/*
 * plan: building, checking and (de)serialising plans (see plan.h).
 *
 * Everything a plan holds reaches a path, a container name or an argv, so
 * this module is where the allow-lists and bounds live; the executor and
 * the worker trust a plan that passed plan_validate().  It never runs
 * anything and knows nothing of jobs, engines or HTTP.
 */
#include "runtime/plan.h"
#include "runtime/toolchain.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A toolchain of the table (runtime/toolchain.h), or "local": the host
 * itself, for plans given by hand. */
int plan_toolchain_ok(const char *s)
{
	return s != NULL && (strcmp(s, "local") == 0 || toolchain_find(s) != NULL);
}

static int name_ok_n(const char *s, size_t n)
{
	if (n == 0 || n > PLAN_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return 0;
		/* isalnum is locale-dependent; only ASCII is wanted */
		if (c >= 0x80)
			return 0;
	}
	return 1;
}

int plan_name_ok(const char *s)
{
	return s != NULL && name_ok_n(s, strlen(s));
}

int plan_path_ok(const char *s)
{
	if (s == NULL)
		return 0;
	size_t len = strlen(s);
	if (len == 0 || len > PLAN_PATH_MAX)
		return 0;
	const char *part = s;
	for (;;) {
		const char *slash = strchr(part, '/');
		size_t n = slash ? (size_t)(slash - part) : strlen(part);
		if (!name_ok_n(part, n))
			return 0;  /* also refuses "", ".", ".." and a leading '/' */
		if (slash == NULL)
			return 1;
		part = slash + 1;
	}
}

struct plan *plan_new(void)
{
	return calloc(1, sizeof(struct plan));
}

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void step_clear(struct plan_step *s)
{
	free(s->name);
	free_strv(s->argv, s->argc);
	free_strv(s->outputs, s->n_outputs);
	memset(s, 0, sizeof(*s));
}

void plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_files; i++) {
		free(p->files[i].name);
		free(p->files[i].content);
	}
	free(p->files);
	for (size_t i = 0; i < p->n_steps; i++)
		step_clear(&p->steps[i]);
	free(p->steps);
	for (size_t i = 0; i < p->n_bundle; i++) {
		free(p->bundle[i].name);
		free(p->bundle[i].src);
		free(p->bundle[i].content);
	}
	free(p->bundle);
	free(p);
}

static size_t total_bytes(const struct plan *p)
{
	size_t t = 0;
	for (size_t i = 0; i < p->n_files; i++)
		t += p->files[i].size;
	return t;
}

static int check_file(const struct plan *p, size_t idx, const char *name, size_t len,
		      size_t total_before, struct kiln_err *err)
{
	char field[64];
	snprintf(field, sizeof(field), "files[%zu].name", idx);
	if (!plan_name_ok(name))
		return kiln_errf(err, KILN_EINVAL, field,
				 "file name '%.80s' is not allowed: use 1-%d characters of "
				 "A-Z a-z 0-9 . _ - starting with a letter or digit",
				 name ? name : "", PLAN_NAME_MAX);
	for (size_t i = 0; i < idx && i < p->n_files; i++)
		if (strcmp(p->files[i].name, name) == 0)
			return kiln_errf(err, KILN_EINVAL, field,
					 "file '%s' is listed twice", name);
	snprintf(field, sizeof(field), "files[%zu].content", idx);
	if (len > PLAN_MAX_FILE_BYTES)
		return kiln_errf(err, KILN_ETOOBIG, field,
				 "file '%s' is %zu bytes; the most a plan file may be is %d",
				 name, len, PLAN_MAX_FILE_BYTES);
	if (total_before + len > PLAN_MAX_TOTAL_BYTES)
		return kiln_errf(err, KILN_ETOOBIG, field,
				 "the plan's files add up to more than %d bytes",
				 PLAN_MAX_TOTAL_BYTES);
	return 0;
}

int plan_add_file(struct plan *p, const char *name, const char *content, size_t len,
		  int executable, struct kiln_err *err)
{
	if (p->n_files >= PLAN_MAX_FILES)
		return kiln_errf(err, KILN_ETOOBIG, "files",
				 "a plan may write at most %d files", PLAN_MAX_FILES);
	int rc = check_file(p, p->n_files, name, len, total_bytes(p), err);
	if (rc != 0)
		return rc;
	struct plan_file *nf = realloc(p->files, (p->n_files + 1) * sizeof(*nf));
	if (nf == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	p->files = nf;
	struct plan_file *f = &p->files[p->n_files];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	f->content = malloc(len + 1);
	if (f->name == NULL || f->content == NULL) {
		free(f->name);
		free(f->content);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	if (len)
		memcpy(f->content, content, len);
	f->content[len] = '\0';
	f->size = len;
	f->executable = executable ? 1 : 0;
	p->n_files++;
	return 0;
}

/* Checks one step against the bounds; idx names it in err->field. */
static int check_step(const struct plan *p, size_t idx, const struct plan_step *s,
		      struct kiln_err *err)
{
	char field[64];
	snprintf(field, sizeof(field), "steps[%zu].name", idx);
	if (!plan_name_ok(s->name))
		return kiln_errf(err, KILN_EINVAL, field,
				 "step name '%.80s' is not allowed: use 1-%d characters of "
				 "A-Z a-z 0-9 . _ - starting with a letter or digit",
				 s->name ? s->name : "", PLAN_NAME_MAX);
	for (size_t i = 0; i < idx && i < p->n_steps; i++)
		if (strcmp(p->steps[i].name, s->name) == 0)
			return kiln_errf(err, KILN_EINVAL, field,
					 "step '%s' is listed twice (step names name containers "
					 "and must be unique)", s->name);
	snprintf(field, sizeof(field), "steps[%zu].argv", idx);
	if (s->argc == 0 || s->argv == NULL)
		return kiln_errf(err, KILN_EINVAL, field, "step '%s' has an empty argv", s->name);
	if (s->argc > PLAN_MAX_ARGS)
		return kiln_errf(err, KILN_ETOOBIG, field,
				 "step '%s' has %zu arguments; at most %d", s->name, s->argc,
				 PLAN_MAX_ARGS);
	size_t all = 0;
	for (size_t i = 0; i < s->argc; i++) {
		size_t n = s->argv[i] ? strlen(s->argv[i]) : 0;
		snprintf(field, sizeof(field), "steps[%zu].argv[%zu]", idx, i);
		if (s->argv[i] == NULL || (i == 0 && n == 0))
			return kiln_errf(err, KILN_EINVAL, field,
					 "step '%s': the program name is empty", s->name);
		if (n > PLAN_MAX_ARG_BYTES)
			return kiln_errf(err, KILN_ETOOBIG, field,
					 "step '%s': argument %zu is %zu bytes; at most %d",
					 s->name, i, n, PLAN_MAX_ARG_BYTES);
		all += n + 1;
	}
	if (s->argv[s->argc] != NULL)
		return kiln_errf(err, KILN_EINTERNAL, field, "argv is not NULL-terminated");
	if (all > PLAN_MAX_ARGV_BYTES)
		return kiln_errf(err, KILN_ETOOBIG, field,
				 "step '%s': the arguments add up to %zu bytes; at most %d",
				 s->name, all, PLAN_MAX_ARGV_BYTES);
	snprintf(field, sizeof(field), "steps[%zu].toolchain", idx);
	if (!plan_toolchain_ok(s->toolchain))
		return kiln_errf(err, KILN_EINVAL, field,
				 "step '%s': unknown toolchain '%.20s': use tpu-mlir, pulsar2, "
				 "pulsar, voyager or local", s->name, s->toolchain);
	snprintf(field, sizeof(field), "steps[%zu].timeout_s", idx);
	if (s->timeout_s < 1 || s->timeout_s > PLAN_MAX_TIMEOUT_S)
		return kiln_errf(err, KILN_EINVAL, field,
				 "step '%s': timeout_s must be 1 to %d seconds", s->name,
				 PLAN_MAX_TIMEOUT_S);
	snprintf(field, sizeof(field), "steps[%zu].outputs", idx);
	if (s->n_outputs > PLAN_MAX_OUTPUTS)
		return kiln_errf(err, KILN_ETOOBIG, field,
				 "step '%s' expects %zu outputs; at most %d", s->name,
				 s->n_outputs, PLAN_MAX_OUTPUTS);
	for (size_t i = 0; i < s->n_outputs; i++) {
		snprintf(field, sizeof(field), "steps[%zu].outputs[%zu]", idx, i);
		if (!plan_path_ok(s->outputs[i]))
			return kiln_errf(err, KILN_EINVAL, field,
					 "step '%s': output '%.80s' is not allowed: a relative "
					 "path whose parts are names (no '..', no leading '/')",
					 s->name, s->outputs[i] ? s->outputs[i] : "");
	}
	snprintf(field, sizeof(field), "steps[%zu].weight", idx);
	if (!isfinite(s->weight) || s->weight < 0 || s->weight > PLAN_MAX_WEIGHT)
		return kiln_errf(err, KILN_EINVAL, field,
				 "step '%s': weight must be 0 to %g", s->name, PLAN_MAX_WEIGHT);
	snprintf(field, sizeof(field), "steps[%zu].parser", idx);
	if (!toolchain_parser_known(s->parser))
		return kiln_errf(err, KILN_EINVAL, field,
				 "step '%s': unknown log parser '%.40s'", s->name, s->parser);
	return 0;
}

static char **copy_strv(const char *const *v, size_t *n_out)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = calloc(n + 1, sizeof(char *));
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i] = strdup(v[i]);
		if (c[i] == NULL) {
			free_strv(c, i);
			return NULL;
		}
	}
	*n_out = n;
	return c;
}

int plan_add_step(struct plan *p, const struct plan_step_spec *spec, struct kiln_err *err)
{
	if (p->n_steps >= PLAN_MAX_STEPS)
		return kiln_errf(err, KILN_ETOOBIG, "steps", "a plan may have at most %d steps",
				 PLAN_MAX_STEPS);
	struct plan_step s;
	memset(&s, 0, sizeof(s));
	s.name = strdup(spec->name ? spec->name : "");
	s.argv = copy_strv(spec->argv, &s.argc);
	s.outputs = copy_strv(spec->outputs, &s.n_outputs);
	if (s.name == NULL || s.argv == NULL || s.outputs == NULL) {
		step_clear(&s);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	snprintf(s.toolchain, sizeof(s.toolchain), "%s", spec->toolchain ? spec->toolchain : "");
	s.timeout_s = spec->timeout_s ? spec->timeout_s : PLAN_DEFAULT_TIMEOUT_S;
	s.weight = spec->weight < 0 ? 1.0 : spec->weight;
	snprintf(s.parser, sizeof(s.parser), "%s", spec->parser ? spec->parser : "none");
	int rc = check_step(p, p->n_steps, &s, err);
	if (rc == 0) {
		struct plan_step *ns = realloc(p->steps, (p->n_steps + 1) * sizeof(*ns));
		if (ns == NULL)
			rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		else {
			p->steps = ns;
			p->steps[p->n_steps++] = s;
			return 0;
		}
	}
	step_clear(&s);
	return rc;
}

static int check_bundle_file(const struct plan *p, size_t idx, const char *name,
			     const char *src, const char *content, size_t len,
			     struct kiln_err *err)
{
	char field[64];
	snprintf(field, sizeof(field), "bundle[%zu]", idx);
	if (idx >= PLAN_MAX_BUNDLE)
		return kiln_errf(err, KILN_ETOOBIG, "bundle", "a bundle may hold at most %d files",
				 PLAN_MAX_BUNDLE);
	if (!plan_path_ok(name))
		return kiln_errf(err, KILN_EINVAL, field, "bundle file name '%.80s' is not allowed: "
				 "use '/'-separated parts of A-Z a-z 0-9 . _ -", name ? name : "");
	if ((src == NULL) == (content == NULL))
		return kiln_errf(err, KILN_EINVAL, field, "%s needs either src or content", field);
	if (src != NULL && !plan_path_ok(src))
		return kiln_errf(err, KILN_EINVAL, field, "%s: src '%.80s' is not a workspace path",
				 field, src);
	if (content != NULL && len > PLAN_MAX_FILE_BYTES)
		return kiln_errf(err, KILN_ETOOBIG, field, "%s is larger than %d bytes", field,
				 PLAN_MAX_FILE_BYTES);
	for (size_t i = 0; i < idx && i < p->n_bundle; i++)
		if (strcmp(p->bundle[i].name, name) == 0)
			return kiln_errf(err, KILN_EINVAL, field, "bundle file '%s' is listed twice",
					 name);
	return 0;
}

int plan_add_bundle_file(struct plan *p, const char *name, const char *src,
			 const char *content, struct kiln_err *err)
{
	size_t len = content ? strlen(content) : 0;
	int rc = check_bundle_file(p, p->n_bundle, name, src, content, len, err);
	if (rc != 0)
		return rc;
	struct plan_bundle_file *nb = realloc(p->bundle, (p->n_bundle + 1) * sizeof(*nb));
	if (nb == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	p->bundle = nb;
	struct plan_bundle_file f = {strdup(name), src ? strdup(src) : NULL,
				     content ? strdup(content) : NULL, len};
	if (f.name == NULL || (src && f.src == NULL) || (content && f.content == NULL)) {
		free(f.name);
		free(f.src);
		free(f.content);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	p->bundle[p->n_bundle++] = f;
	return 0;
}

static int recipe_ok(const char *v)
{
	size_t n = strlen(v);
	if (n >= PLAN_RECIPE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
		      strchr("/._-", v[i])))
			return 0;
	return 1;
}

int plan_set_recipe(struct plan *p, const char *version, struct kiln_err *err)
{
	if (version == NULL || !recipe_ok(version))
		return kiln_errf(err, KILN_EINVAL, "recipe", "recipe version '%.40s' is not allowed",
				 version ? version : "");
	snprintf(p->recipe, sizeof(p->recipe), "%s", version);
	return 0;
}

int plan_validate(const struct plan *p, struct kiln_err *err)
{
	if (!recipe_ok(p->recipe))
		return kiln_errf(err, KILN_EINVAL, "recipe", "recipe version is not allowed");
	for (size_t i = 0; i < p->n_bundle; i++) {
		const struct plan_bundle_file *b = &p->bundle[i];
		int rc = check_bundle_file(p, i, b->name, b->src, b->content, b->size, err);
		if (rc != 0)
			return rc;
	}
	if (p->n_files > PLAN_MAX_FILES)
		return kiln_errf(err, KILN_ETOOBIG, "files", "a plan may write at most %d files",
				 PLAN_MAX_FILES);
	size_t total = 0;
	for (size_t i = 0; i < p->n_files; i++) {
		int rc = check_file(p, i, p->files[i].name, p->files[i].size, total, err);
		if (rc != 0)
			return rc;
		total += p->files[i].size;
	}
	if (p->n_steps == 0)
		return kiln_errf(err, KILN_EINVAL, "steps", "a plan needs at least one step");
	if (p->n_steps > PLAN_MAX_STEPS)
		return kiln_errf(err, KILN_ETOOBIG, "steps", "a plan may have at most %d steps",
				 PLAN_MAX_STEPS);
	for (size_t i = 0; i < p->n_steps; i++) {
		int rc = check_step(p, i, &p->steps[i], err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

double plan_total_weight(const struct plan *p)
{
	double t = 0;
	for (size_t i = 0; i < p->n_steps; i++)
		t += p->steps[i].weight;
	return t;
}

/* --- JSON ----------------------------------------------------------------- */

static int only_keys(const cJSON *obj, const char *const *keys, const char *where,
		     struct kiln_err *err)
{
	for (const cJSON *it = obj->child; it; it = it->next) {
		int ok = 0;
		for (int i = 0; keys[i]; i++)
			if (it->string && strcmp(it->string, keys[i]) == 0)
				ok = 1;
		if (!ok) {
			char field[64];
			snprintf(field, sizeof(field), "%s.%.40s", where,
				 it->string ? it->string : "");
			return kiln_errf(err, KILN_EINVAL, field, "unknown key '%.40s' in %s",
					 it->string ? it->string : "", where);
		}
	}
	return 0;
}

/* A JSON array of strings → NULL-terminated copy. */
static int strv_from_json(const cJSON *arr, size_t max, const char *field,
			  char ***out, size_t *n_out, struct kiln_err *err)
{
	if (!cJSON_IsArray(arr))
		return kiln_errf(err, KILN_EINVAL, field, "%s must be an array of strings", field);
	size_t n = (size_t)cJSON_GetArraySize(arr);
	if (n > max)
		return kiln_errf(err, KILN_ETOOBIG, field, "%s has %zu entries; at most %zu",
				 field, n, max);
	char **v = calloc(n + 1, sizeof(char *));
	if (v == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	size_t i = 0;
	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		if (!cJSON_IsString(it)) {
			free_strv(v, i);
			char f[80];
			snprintf(f, sizeof(f), "%s[%zu]", field, i);
			return kiln_errf(err, KILN_EINVAL, f, "%s must be a string", f);
		}
		v[i] = strdup(it->valuestring);
		if (v[i] == NULL) {
			free_strv(v, i);
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	}
	*out = v;
	*n_out = n;
	return 0;
}

static int step_from_json(const cJSON *j, size_t idx, struct plan_step *s,
			  struct kiln_err *err)
{
	static const char *const KEYS[] = {
		"name", "argv", "toolchain", "timeout_s", "outputs", "weight", "parser", NULL,
	};
	char where[32], field[64];
	snprintf(where, sizeof(where), "steps[%zu]", idx);
	if (!cJSON_IsObject(j))
		return kiln_errf(err, KILN_EINVAL, where, "%s must be an object", where);
	int rc = only_keys(j, KEYS, where, err);
	if (rc != 0)
		return rc;
	memset(s, 0, sizeof(*s));
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "name");
	snprintf(field, sizeof(field), "%s.name", where);
	if (!cJSON_IsString(v))
		return kiln_errf(err, KILN_EINVAL, field, "%s is required (a string)", field);
	if ((s->name = strdup(v->valuestring)) == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	snprintf(field, sizeof(field), "%s.argv", where);
	rc = strv_from_json(cJSON_GetObjectItemCaseSensitive(j, "argv"), PLAN_MAX_ARGS, field,
			    &s->argv, &s->argc, err);
	if (rc != 0)
		return rc;
	v = cJSON_GetObjectItemCaseSensitive(j, "toolchain");
	snprintf(field, sizeof(field), "%s.toolchain", where);
	if (!cJSON_IsString(v))
		return kiln_errf(err, KILN_EINVAL, field, "%s is required (a string)", field);
	snprintf(s->toolchain, sizeof(s->toolchain), "%.15s", v->valuestring);
	if (strlen(v->valuestring) >= sizeof(s->toolchain))
		s->toolchain[0] = '?';  /* too long: refused by check_step */
	v = cJSON_GetObjectItemCaseSensitive(j, "timeout_s");
	snprintf(field, sizeof(field), "%s.timeout_s", where);
	if (v == NULL)
		s->timeout_s = PLAN_DEFAULT_TIMEOUT_S;
	else if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
		 v->valuedouble < 1 || v->valuedouble > PLAN_MAX_TIMEOUT_S)
		return kiln_errf(err, KILN_EINVAL, field,
				 "%s must be a whole number of seconds, 1 to %d", field,
				 PLAN_MAX_TIMEOUT_S);
	else
		s->timeout_s = (int)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(j, "outputs");
	snprintf(field, sizeof(field), "%s.outputs", where);
	if (v == NULL) {
		s->outputs = calloc(1, sizeof(char *));
		if (s->outputs == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	} else {
		rc = strv_from_json(v, PLAN_MAX_OUTPUTS, field, &s->outputs, &s->n_outputs, err);
		if (rc != 0)
			return rc;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "weight");
	snprintf(field, sizeof(field), "%s.weight", where);
	if (v == NULL)
		s->weight = 1.0;
	else if (!cJSON_IsNumber(v))
		return kiln_errf(err, KILN_EINVAL, field, "%s must be a number", field);
	else
		s->weight = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(j, "parser");
	snprintf(field, sizeof(field), "%s.parser", where);
	if (v == NULL)
		snprintf(s->parser, sizeof(s->parser), "none");
	else if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(s->parser))
		return kiln_errf(err, KILN_EINVAL, field, "%s must be a parser id", field);
	else
		snprintf(s->parser, sizeof(s->parser), "%s", v->valuestring);
	return 0;
}

int plan_from_json(const cJSON *json, struct plan **out, struct kiln_err *err)
{
	static const char *const KEYS[] = {"files", "steps", "bundle", "recipe", NULL};
	static const char *const FILE_KEYS[] = {"name", "content", "executable", NULL};
	static const char *const BUNDLE_KEYS[] = {"name", "src", "content", NULL};
	if (!cJSON_IsObject(json))
		return kiln_errf(err, KILN_EINVAL, "plan", "a plan must be a JSON object");
	int rc = only_keys(json, KEYS, "plan", err);
	if (rc != 0)
		return rc;
	struct plan *p = plan_new();
	if (p == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(json, "files");
	if (files != NULL && !cJSON_IsArray(files)) {
		rc = kiln_errf(err, KILN_EINVAL, "files", "files must be an array");
		goto fail;
	}
	size_t i = 0;
	for (const cJSON *f = files ? files->child : NULL; f; f = f->next, i++) {
		char where[32];
		snprintf(where, sizeof(where), "files[%zu]", i);
		if (!cJSON_IsObject(f)) {
			rc = kiln_errf(err, KILN_EINVAL, where, "%s must be an object", where);
			goto fail;
		}
		if ((rc = only_keys(f, FILE_KEYS, where, err)) != 0)
			goto fail;
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(f, "content");
		const cJSON *ex = cJSON_GetObjectItemCaseSensitive(f, "executable");
		if (!cJSON_IsString(name) || !cJSON_IsString(content) ||
		    (ex != NULL && !cJSON_IsBool(ex))) {
			rc = kiln_errf(err, KILN_EINVAL, where,
				       "%s needs a string name and content (and executable: "
				       "true/false)", where);
			goto fail;
		}
		rc = plan_add_file(p, name->valuestring, content->valuestring,
				   strlen(content->valuestring), cJSON_IsTrue(ex), err);
		if (rc != 0)
			goto fail;
	}
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(json, "steps");
	if (!cJSON_IsArray(steps)) {
		rc = kiln_errf(err, KILN_EINVAL, "steps", "steps is required (an array)");
		goto fail;
	}
	if (cJSON_GetArraySize(steps) > PLAN_MAX_STEPS) {
		rc = kiln_errf(err, KILN_ETOOBIG, "steps", "a plan may have at most %d steps",
			       PLAN_MAX_STEPS);
		goto fail;
	}
	p->steps = calloc((size_t)cJSON_GetArraySize(steps) + 1, sizeof(struct plan_step));
	if (p->steps == NULL) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		goto fail;
	}
	i = 0;
	for (const cJSON *s = steps->child; s; s = s->next, i++) {
		/* counted before parsing so a half-built step is freed too */
		p->n_steps++;
		if ((rc = step_from_json(s, i, &p->steps[i], err)) != 0)
			goto fail;
	}
	const cJSON *recipe = cJSON_GetObjectItemCaseSensitive(json, "recipe");
	if (recipe != NULL && (!cJSON_IsString(recipe) ||
			       (rc = plan_set_recipe(p, recipe->valuestring, err)) != 0)) {
		if (rc == 0)
			rc = kiln_errf(err, KILN_EINVAL, "recipe", "recipe must be a string");
		goto fail;
	}
	const cJSON *bundle = cJSON_GetObjectItemCaseSensitive(json, "bundle");
	if (bundle != NULL && !cJSON_IsArray(bundle)) {
		rc = kiln_errf(err, KILN_EINVAL, "bundle", "bundle must be an array");
		goto fail;
	}
	i = 0;
	for (const cJSON *b = bundle ? bundle->child : NULL; b; b = b->next, i++) {
		char where[32];
		snprintf(where, sizeof(where), "bundle[%zu]", i);
		if (!cJSON_IsObject(b)) {
			rc = kiln_errf(err, KILN_EINVAL, where, "%s must be an object", where);
			goto fail;
		}
		if ((rc = only_keys(b, BUNDLE_KEYS, where, err)) != 0)
			goto fail;
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
		const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "src");
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(b, "content");
		if (!cJSON_IsString(name) || (src && !cJSON_IsString(src)) ||
		    (content && !cJSON_IsString(content))) {
			rc = kiln_errf(err, KILN_EINVAL, where, "%s needs a string name and a string "
				       "src or content", where);
			goto fail;
		}
		if ((rc = plan_add_bundle_file(p, name->valuestring,
					       src ? src->valuestring : NULL,
					       content ? content->valuestring : NULL, err)) != 0)
			goto fail;
	}
	if ((rc = plan_validate(p, err)) != 0)
		goto fail;
	*out = p;
	return 0;
fail:
	plan_free(p);
	return rc;
}

int plan_parse(const char *text, size_t len, struct plan **out, struct kiln_err *err)
{
	if (len > PLAN_MAX_TOTAL_BYTES * 2)
		return kiln_errf(err, KILN_ETOOBIG, "plan", "the plan is larger than %d bytes",
				 PLAN_MAX_TOTAL_BYTES * 2);
	cJSON *j = cJSON_ParseWithLength(text, len);
	if (j == NULL)
		return kiln_errf(err, KILN_EINVAL, "plan", "the plan is not valid JSON");
	int rc = plan_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (s == NULL) {
			cJSON_Delete(a);
			return NULL;
		}
		cJSON_AddItemToArray(a, s);
	}
	return a;
}

cJSON *plan_to_json(const struct plan *p)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *files = cJSON_AddArrayToObject(j, "files");
	cJSON *steps = cJSON_AddArrayToObject(j, "steps");
	if (files == NULL || steps == NULL)
		goto oom;
	for (size_t i = 0; i < p->n_files; i++) {
		cJSON *f = cJSON_CreateObject();
		if (f == NULL)
			goto oom;
		cJSON_AddItemToArray(files, f);
		if (!cJSON_AddStringToObject(f, "name", p->files[i].name) ||
		    !cJSON_AddStringToObject(f, "content", p->files[i].content) ||
		    !cJSON_AddBoolToObject(f, "executable", p->files[i].executable))
			goto oom;
	}
	for (size_t i = 0; i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];
		cJSON *o = cJSON_CreateObject();
		if (o == NULL)
			goto oom;
		cJSON_AddItemToArray(steps, o);
		cJSON *argv = strv_json(s->argv, s->argc);
		cJSON *outs = strv_json(s->outputs, s->n_outputs);
		if (argv == NULL || outs == NULL) {
			cJSON_Delete(argv);
			cJSON_Delete(outs);
			goto oom;
		}
		cJSON_AddStringToObject(o, "name", s->name);
		cJSON_AddItemToObject(o, "argv", argv);
		cJSON_AddStringToObject(o, "toolchain", s->toolchain);
		cJSON_AddNumberToObject(o, "timeout_s", s->timeout_s);
		cJSON_AddItemToObject(o, "outputs", outs);
		cJSON_AddNumberToObject(o, "weight", s->weight);
		if (!cJSON_AddStringToObject(o, "parser", s->parser))
			goto oom;
	}
	if (p->n_bundle > 0) {
		cJSON *bundle = cJSON_AddArrayToObject(j, "bundle");
		for (size_t i = 0; bundle && i < p->n_bundle; i++) {
			const struct plan_bundle_file *b = &p->bundle[i];
			cJSON *o = cJSON_CreateObject();
			if (o == NULL)
				goto oom;
			cJSON_AddItemToArray(bundle, o);
			if (!cJSON_AddStringToObject(o, "name", b->name) ||
			    !(b->src ? cJSON_AddStringToObject(o, "src", b->src)
				     : cJSON_AddStringToObject(o, "content", b->content)))
				goto oom;
		}
		if (bundle == NULL)
			goto oom;
	}
	if (p->recipe[0] && !cJSON_AddStringToObject(j, "recipe", p->recipe))
		goto oom;
	return j;
oom:
	cJSON_Delete(j);
	return NULL;
}

char *plan_to_string(const struct plan *p)
{
	cJSON *j = plan_to_json(p);
	if (j == NULL)
		return NULL;
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}
