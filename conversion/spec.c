/*
 * spec: parse, check and complete a job spec (see spec.h).
 *
 * Owns the allow-lists every user string passes before it can reach an argv
 * element, a file name or a config file written for a vendor tool.  The
 * rules mirror schema/job.schema.json; tests/conversion/test_job_schema.py
 * runs the schema's examples and counter-examples through both and checks
 * they agree.  Rules the schema cannot express (the model's inspection,
 * option values per target) live only here.  Never does I/O.
 */
#include "conversion/spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/target_ops.h"
#include "runtime/toolchain.h"

/* "compared_on" and "warnings" are written by Kiln at submit
 * (jobsys_compared_on, the calibration checks in routes_jobs.c) and read
 * back with the stored spec; ones given in a request are ignored, so a
 * stored spec can be submitted again as it is. */
static const char *const TOP_KEYS[] = {"model", "dataset", "target", "name", "input", "outputs",
				       "quantize", "calibration", "tolerance", "target_options",
				       "mud", "test_image", "cache", "compared_on", "warnings",
				       NULL};
static const char *const INPUT_KEYS[] = {"shape", "pixel_format", "mean", "scale", "std",
					 "keep_aspect_ratio", "layout", NULL};
static const char *const CALIB_KEYS[] = {"count", "method", NULL};
static const char *const MUD_KEYS[] = {"model_type", "type", "labels", "anchors", "input_cache",
				       "output_cache", "input_cache_flush", "output_cache_inval",
				       "extra", NULL};
static const char *const CACHE_KEYS[SPEC_N_CACHE_FLAGS] = {
	"input_cache", "output_cache", "input_cache_flush", "output_cache_inval"};
/* [extra] keys Kiln writes itself; mud.extra may not override them. */
static const char *const RESERVED_EXTRA[] = {"model_type", "type", "labels", "anchors", "mean",
					     "scale", "input_type", "input_cache", "output_cache",
					     "input_cache_flush", "output_cache_inval", NULL};
static const char *const PIXEL_FORMATS[] = {"rgb", "bgr", "gray", NULL};
static const char *const LAYOUTS[] = {"nchw", "nhwc", NULL};
static const char *const QUANTS[] = {"int8", "bf16", "f16", "mixed", NULL};
static const char *const MUD_TYPES[] = {"detector", "pose", "seg", "obb", NULL};
/* model_types whose MaixPy class reads [extra] labels (reference/mud.md). */
static const char *const NEED_LABELS[] = {"yolov5", "yolov8", "yolo11", "classifier", NULL};
static int in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; s && list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* --- allow-lists ----------------------------------------------------------- */

static int alnum(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int chars_ok(const char *s, size_t min, size_t max, const char *extra, int first_alnum)
{
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > max)
		return 0;
	if (first_alnum && !alnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!alnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

int spec_name_ok(const char *s)
{
	return chars_ok(s, 1, SPEC_NAME_MAX, "._-", 1);
}

int spec_id_ok(const char *s)
{
	return chars_ok(s, 1, SPEC_ID_MAX, "._:-", 1);
}

/* '-' first would read as a flag; ',' would split --output_names. */
int spec_tensor_ok(const char *s)
{
	return chars_ok(s, 1, SPEC_TENSOR_MAX, "_./:-", 0) && s[0] != '-';
}

int spec_model_type_ok(const char *s)
{
	return s && s[0] >= 'a' && s[0] <= 'z' && chars_ok(s, 1, 32, "_", 0) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

/* Characters of a UTF-8 string, or -1 when it is not valid UTF-8. */
static long utf8_chars(const char *s)
{
	long n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		if (len == 0)
			return -1;
		for (int i = 1; i < len; i++)
			if ((p[i] & 0xC0) != 0x80)
				return -1;
		p += len;
		n++;
	}
	return n;
}

/* A MUD value: MaixCDK cuts a line at '#', inih at " ;", ',' separates
 * labels, '[' ']' would read as a section, and a control character would
 * end the line; leading/trailing blanks are trimmed by both parsers, so a
 * value with them would not read back as written. */
static int mud_value_ok(const char *s, long max_chars, int allow_comma)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	long n = utf8_chars(s);
	if (n < 1 || n > max_chars)
		return 0;
	size_t len = strlen(s);
	if (s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '#' || c == ';' || c == '[' || c == ']')
			return 0;
		if (c == ',' && !allow_comma)
			return 0;
	}
	return 1;
}

int spec_label_ok(const char *s)
{
	return mud_value_ok(s, SPEC_LABEL_MAX, 0);
}

/* --- numbers ---------------------------------------------------------------- */

void spec_fmt_number(double v, char *buf, size_t cap)
{
	if (v == 0) {
		snprintf(buf, cap, "0");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		/* "10", not "1e+01": exponents only where a person writes them */
		int plain = strchr(buf, 'e') == NULL || fabs(v) < 1e-4 || fabs(v) >= 1e16;
		if (plain && strtod(buf, NULL) == v)
			return;
	}
}

void spec_fmt_list(const double *v, size_t n, const char *sep, char *buf, size_t cap)
{
	size_t off = 0;
	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; i < n && off + 1 < cap; i++) {
		char num[40];
		spec_fmt_number(v[i], num, sizeof(num));
		int k = snprintf(buf + off, cap - off, "%s%s", i ? sep : "", num);
		if (k < 0)
			return;
		off += (size_t)k;
	}
}

/* --- helpers ---------------------------------------------------------------- */

static int only_keys(const cJSON *o, const char *const *keys, const char *prefix,
		     struct kiln_err *err)
{
	for (const cJSON *c = o->child; c; c = c->next) {
		if (!in_list(c->string, keys)) {
			char field[64];
			snprintf(field, sizeof(field), "%s%.40s", prefix, c->string);
			return kiln_errf(err, KILN_EINVAL, field, "%s is not a known field (a typo?)",
					 field);
		}
	}
	return 0;
}

/* err->field gets "prefix.key" */
static int fail(struct kiln_err *err, const char *field, const char *fmt, const char *a,
		const char *b)
{
	kiln_errf(err, KILN_EINVAL, field, fmt, a, b);
	return KILN_EINVAL;
}

static int number_in(const cJSON *v, double lo, double hi)
{
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= lo &&
	       v->valuedouble <= hi;
}

static int integer_in(const cJSON *v, double lo, double hi)
{
	return number_in(v, lo, hi) && floor(v->valuedouble) == v->valuedouble;
}

/* A required/optional string against an allow-list; 1 present, 0 absent. */
static int get_string(const cJSON *o, const char *key, const char *field, int (*ok)(const char *),
		      const char *rule, char *dst, size_t cap, struct kiln_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v) || !ok(v->valuestring))
		return fail(err, field, "%s must be %s", field, rule);
	snprintf(dst, cap, "%s", v->valuestring);
	return 1;
}

/* A record id: the API sends a number ({"model": 3}, as every record's id
 * is); a spec stored by kilnd, or written for kiln_recipe_cli, holds it as
 * text.  Both end as text in the parsed spec. */
static int get_id(const cJSON *o, const char *key, const char *rule, char *dst, size_t cap,
		  struct kiln_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 1 || v->valuedouble >= 1e15 ||
		    v->valuedouble != (double)(long long)v->valuedouble)
			return fail(err, key, "%s must be a record id: a whole number from 1", key, "");
		snprintf(dst, cap, "%lld", (long long)v->valuedouble);
		return 1;
	}
	return get_string(o, key, key, spec_id_ok, rule, dst, cap, err);
}

/* The canonical form gives a record id back as the number it came as. */
static void add_id(cJSON *o, const char *key, const char *id)
{
	if (id[0] >= '1' && id[0] <= '9' && strlen(id) < 16 && strspn(id, "0123456789") == strlen(id))
		cJSON_AddNumberToObject(o, key, (double)strtoll(id, NULL, 10));
	else
		cJSON_AddStringToObject(o, key, id);
}

static int get_enum(const cJSON *o, const char *key, const char *field, const char *const *allowed,
		    char *dst, size_t cap, struct kiln_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v) || !in_list(v->valuestring, allowed)) {
		char list[256] = "";
		for (size_t i = 0; allowed[i]; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", allowed[i]);
		return fail(err, field, "%s must be one of: %s", field, list);
	}
	snprintf(dst, cap, "%s", v->valuestring);
	return 1;
}

static int get_bool(const cJSON *o, const char *key, const char *field, int *dst,
		    struct kiln_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return 0;
	if (!cJSON_IsBool(v))
		return fail(err, field, "%s must be true or false", field, "");
	*dst = cJSON_IsTrue(v);
	return 1;
}

/* An array of 1..max numbers in [lo, hi]; returns the count, 0 when absent. */
static int get_numbers(const cJSON *o, const char *key, const char *field, int max, double lo,
		       double hi, double *dst, struct kiln_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return 0;
	int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
	char rule[128];
	char l[40], h[40];
	spec_fmt_number(lo, l, sizeof(l));
	spec_fmt_number(hi, h, sizeof(h));
	snprintf(rule, sizeof(rule), "a list of 1 to %d numbers, each in [%s, %s]", max, l, h);
	if (n < 1 || n > max)
		return fail(err, field, "%s must be %s", field, rule);
	int i = 0;
	for (const cJSON *x = v->child; x; x = x->next, i++) {
		if (!number_in(x, lo, hi))
			return fail(err, field, "%s must be %s", field, rule);
		dst[i] = x->valuedouble;
	}
	return n;
}

/* --- the model's inspection ------------------------------------------------- */

/* The one tensor the user feeds (graph inputs that are not initializers). */
static const cJSON *feed_of(const cJSON *insp, int *count)
{
	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(insp, "inputs");
	const cJSON *first = NULL;
	*count = 0;
	for (const cJSON *x = ins ? ins->child : NULL; x; x = x->next) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "initializer")))
			continue;
		if (first == NULL)
			first = x;
		(*count)++;
	}
	return first;
}

static void shape_text(const cJSON *shape, char *buf, size_t cap)
{
	size_t off = 0;
	snprintf(buf, cap, "[");
	off = strlen(buf);
	int i = 0;
	for (const cJSON *d = shape ? shape->child : NULL; d && off + 8 < cap; d = d->next, i++) {
		char one[64];
		if (cJSON_IsNumber(d) && d->valuedouble > 0)
			snprintf(one, sizeof(one), "%.0f", d->valuedouble);
		else if (cJSON_IsString(d))
			snprintf(one, sizeof(one), "%.40s", d->valuestring);
		else
			snprintf(one, sizeof(one), "?");
		snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", one);
		off = strlen(buf);
	}
	snprintf(buf + off, cap - off, "]");
}

static long long opset_of(const cJSON *insp)
{
	const cJSON *ops = cJSON_GetObjectItemCaseSensitive(insp, "opsets");
	for (const cJSON *o = ops ? ops->child : NULL; o; o = o->next) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "domain");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
		if (cJSON_IsString(d) && (d->valuestring[0] == '\0' ||
					  strcmp(d->valuestring, "ai.onnx") == 0) && cJSON_IsNumber(v))
			return (long long)v->valuedouble;
	}
	return -1;
}

/* IR/opset against the toolchain's documented limits (target_ops.h). */
static int check_versions(const struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	const struct target_ops *ops = s->t->ops;
	if (ops == NULL)
		return 0;
	const cJSON *irj = cJSON_GetObjectItemCaseSensitive(insp, "ir_version");
	long long ir = cJSON_IsNumber(irj) ? (long long)irj->valuedouble : -1;
	long long opset = opset_of(insp);
	int too_new = (ops->max_ir > 0 && ir > ops->max_ir) ||
		      (ops->opset_documented && ops->max_opset > 0 && opset > ops->max_opset);
	if (too_new)
		return kiln_errf(err, KILN_EUNPROC, "model",
				 "%s (%s) takes ONNX up to IR %d / opset %d, this model is IR %lld / "
				 "opset %lld: lower it with the model's IR rewrite (IR %d, opset %d) "
				 "or re-export with opset_version=%d",
				 s->t->id, s->t->toolchain, ops->max_ir ? ops->max_ir : 99,
				 ops->max_opset ? ops->max_opset : 99, ir, opset,
				 ops->max_ir ? ops->max_ir : (int)ir,
				 ops->max_opset ? ops->max_opset : (int)opset,
				 ops->max_opset ? ops->max_opset : (int)opset);
	if (ops->opset_documented && ops->min_opset > 0 && opset >= 0 && opset < ops->min_opset)
		return kiln_errf(err, KILN_EUNPROC, "model",
				 "%s (%s) needs opset >= %d, this model is opset %lld: re-export "
				 "it with opset_version=%d or newer", s->t->id, s->t->toolchain,
				 ops->min_opset, opset, ops->min_opset);
	return 0;
}

static int apply_inspection(struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	int nfeeds;
	const cJSON *feed = feed_of(insp, &nfeeds);
	if (nfeeds != 1)
		return kiln_errf(err, KILN_EUNPROC, "model",
				 "Kiln converts single-input models; this model has %d inputs", nfeeds);
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(feed, "name");
	if (!cJSON_IsString(nm) || !spec_tensor_ok(nm->valuestring))
		return kiln_errf(err, KILN_EUNPROC, "model",
				 "the model's input name is not usable on a command line "
				 "(allowed: letters, digits, _ . / : -); rename it and upload again");
	s->input_name = strdup(nm->valuestring);
	if (s->input_name == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(feed, "shape");
	int dynamic = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(feed, "dynamic"));
	int rank = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
	char st[160];
	shape_text(shape, st, sizeof(st));
	if (!s->shape_given) {
		if (dynamic || rank < 1 || rank > SPEC_MAX_RANK)
			return kiln_errf(err, KILN_EINVAL, "input.shape",
					 "input.shape is required: the model's input '%.60s' has "
					 "dynamic dims %s", s->input_name, st);
		s->rank = rank;
		int i = 0;
		for (const cJSON *d = shape->child; d; d = d->next)
			s->shape[i++] = (int64_t)d->valuedouble;
	} else if (rank > 0 && rank != s->rank) {
		return kiln_errf(err, KILN_EINVAL, "input.shape",
				 "input.shape has %d dims but the model's input '%.60s' is %s",
				 s->rank, s->input_name, st);
	}
	/* The target's own suggestion (what its runtime loads: MaixCAM's
	 * three Concats, reCamera's six Convs); a record inspected before
	 * inspections had one per target falls back to the general list. */
	const cJSON *tins = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(insp, "targets"), s->t->id);
	const cJSON *own = cJSON_GetObjectItemCaseSensitive(tins, "suggested_outputs");
	if (!cJSON_IsArray(own) || cJSON_GetArraySize(own) == 0)
		tins = NULL;
	if (s->outputs_suggested) {
		const cJSON *sug = tins ? cJSON_GetObjectItemCaseSensitive(tins, "suggested_outputs")
					: cJSON_GetObjectItemCaseSensitive(insp, "suggested_outputs");
		const cJSON *first = cJSON_IsArray(sug) ? sug->child : NULL;
		const cJSON *tens = cJSON_GetObjectItemCaseSensitive(first, "tensors");
		int n = cJSON_IsArray(tens) ? cJSON_GetArraySize(tens) : 0;
		if (n < 1 || n > SPEC_MAX_OUTPUTS)
			return kiln_errf(err, KILN_EINVAL, "outputs",
					 "outputs is \"suggested\" but the model has no suggestion: "
					 "list the output tensor names");
		s->outputs = calloc((size_t)n + 1, sizeof(char *));
		if (s->outputs == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		for (const cJSON *x = tens->child; x; x = x->next) {
			if (!cJSON_IsString(x) || !spec_tensor_ok(x->valuestring))
				return kiln_errf(err, KILN_EINVAL, "outputs",
						 "the suggested output names are not usable on a "
						 "command line: list the outputs by hand");
			if ((s->outputs[s->n_outputs++] = strdup(x->valuestring)) == NULL)
				return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	}
	if (s->model_type[0] == '\0') {
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(tins ? tins : insp,
								   "suggested_model_type");
		if (cJSON_IsString(mt) && spec_model_type_ok(mt->valuestring))
			snprintf(s->model_type, sizeof(s->model_type), "%s", mt->valuestring);
	}
	return check_versions(s, insp, err);
}

/* --- sections --------------------------------------------------------------- */

static int parse_input(struct job_spec *s, const cJSON *in, struct kiln_err *err)
{
	int rc;
	if (!cJSON_IsObject(in))
		return fail(err, "input", "input must be an object", "", "");
	if ((rc = only_keys(in, INPUT_KEYS, "input.", err)) != 0)
		return rc;
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(in, "shape");
	if (sh) {
		int n = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
		if (n < 1 || n > SPEC_MAX_RANK)
			return fail(err, "input.shape", "input.shape must be a list of 1 to 8 "
				    "positive integers, e.g. [1, 3, 640, 640]", "", "");
		int i = 0;
		for (const cJSON *d = sh->child; d; d = d->next) {
			if (!integer_in(d, 1, 65536))
				return fail(err, "input.shape", "input.shape must be a list of 1 to "
					    "8 positive integers (each <= 65536)", "", "");
			s->shape[i++] = (int64_t)d->valuedouble;
		}
		s->rank = n;
		s->shape_given = 1;
	}
	if ((rc = get_enum(in, "pixel_format", "input.pixel_format", PIXEL_FORMATS,
			   s->pixel_format, sizeof(s->pixel_format), err)) < 0)
		return rc;
	if ((rc = get_enum(in, "layout", "input.layout", LAYOUTS, s->layout, sizeof(s->layout),
			   err)) < 0)
		return rc;
	if ((rc = get_bool(in, "keep_aspect_ratio", "input.keep_aspect_ratio",
			   &s->keep_aspect_ratio, err)) < 0)
		return rc;
	int want = strcmp(s->pixel_format, "gray") == 0 ? 1 : 3;
	double mean[SPEC_MAX_CH], scale[SPEC_MAX_CH], std[SPEC_MAX_CH];
	int nm = get_numbers(in, "mean", "input.mean", SPEC_MAX_CH, -1e6, 1e6, mean, err);
	if (nm < 0)
		return nm;
	if (cJSON_HasObjectItem(in, "scale") && cJSON_HasObjectItem(in, "std"))
		return fail(err, "input.std", "give input.scale or input.std, not both "
			    "(scale = 1/std)", "", "");
	int ns = get_numbers(in, "scale", "input.scale", SPEC_MAX_CH, 1e-9, 1e6, scale, err);
	if (ns < 0)
		return ns;
	int nd = get_numbers(in, "std", "input.std", SPEC_MAX_CH, 1e-9, 1e6, std, err);
	if (nd < 0)
		return nd;
	char msg[96];
	snprintf(msg, sizeof(msg), "%d value%s for pixel_format %s", want, want > 1 ? "s" : "",
		 s->pixel_format);
	if (nm && nm != want)
		return fail(err, "input.mean", "input.mean must have %s", msg, "");
	if (ns && ns != want)
		return fail(err, "input.scale", "input.scale must have %s", msg, "");
	if (nd && nd != want)
		return fail(err, "input.std", "input.std must have %s", msg, "");
	s->n_ch = want;
	for (int i = 0; i < want; i++) {
		/* Defaults: YOLO's convention (seeds 000-002), RGB scaled to [0, 1]. */
		s->mean[i] = nm ? mean[i] : 0;
		s->scale[i] = 1.0 / 255;
		s->std[i] = 255;
		if (ns) {
			s->scale[i] = scale[i];
			s->std[i] = 1.0 / scale[i];
		}
		if (nd) {
			s->std[i] = std[i];
			s->scale[i] = 1.0 / std[i];
		}
	}
	s->std_given = nd > 0;
	return 0;
}

static int set_opt(struct job_spec *s, size_t i, const char *text, struct kiln_err *err)
{
	free(s->opts[i]);
	s->opts[i] = text ? strdup(text) : NULL;
	if (text && s->opts[i] == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	return 0;
}

static int parse_target_options(struct job_spec *s, const cJSON *o, struct kiln_err *err)
{
	const struct target *t = s->t;
	for (size_t i = 0; i < t->n_options; i++)
		if (set_opt(s, i, t->options[i].def, err) != 0)
			return err->code;
	if (o == NULL)
		return 0;
	if (!cJSON_IsObject(o))
		return fail(err, "target_options", "target_options must be an object", "", "");
	for (const cJSON *c = o->child; c; c = c->next) {
		char field[64];
		snprintf(field, sizeof(field), "target_options.%.40s", c->string);
		const struct target_option *op = target_option_find(t, c->string);
		if (op == NULL) {
			char keys[256] = "";
			for (size_t i = 0; i < t->n_options; i++)
				snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s",
					 i ? ", " : "", t->options[i].key);
			return kiln_errf(err, KILN_EINVAL, field,
					 "%s is not an option of target %s (options: %s)", field,
					 t->id, keys);
		}
		size_t idx = (size_t)(op - t->options);
		char text[256];
		char lo[40], hi[40];
		spec_fmt_number(op->min, lo, sizeof(lo));
		spec_fmt_number(op->max, hi, sizeof(hi));
		switch (op->type) {
		case TOPT_BOOL:
			if (!cJSON_IsBool(c))
				return fail(err, field, "%s must be true or false", field, "");
			snprintf(text, sizeof(text), "%s", cJSON_IsTrue(c) ? "true" : "false");
			break;
		case TOPT_ENUM:
			if (!cJSON_IsString(c) || !in_list(c->valuestring, op->allowed)) {
				char list[200] = "";
				for (size_t i = 0; op->allowed[i]; i++)
					snprintf(list + strlen(list), sizeof(list) - strlen(list),
						 "%s%s", i ? ", " : "", op->allowed[i]);
				return fail(err, field, "%s must be one of: %s", field, list);
			}
			snprintf(text, sizeof(text), "%s", c->valuestring);
			break;
		case TOPT_INT:
			if (!integer_in(c, op->min, op->max))
				return kiln_errf(err, KILN_EINVAL, field,
						 "%s must be an integer in [%s, %s]", field, lo, hi);
			spec_fmt_number(c->valuedouble, text, sizeof(text));
			break;
		case TOPT_NUMBER:
			if (!number_in(c, op->min, op->max))
				return kiln_errf(err, KILN_EINVAL, field,
						 "%s must be a number in [%s, %s]", field, lo, hi);
			spec_fmt_number(c->valuedouble, text, sizeof(text));
			break;
		case TOPT_NUMLIST:
		default: {
			double v[8];
			int n = cJSON_IsArray(c) ? cJSON_GetArraySize(c) : -1;
			if (n != op->max_items || n > 8)
				return kiln_errf(err, KILN_EINVAL, field,
						 "%s must be a list of %d numbers in [%s, %s]", field,
						 op->max_items, lo, hi);
			int i = 0;
			for (const cJSON *x = c->child; x; x = x->next) {
				if (!number_in(x, op->min, op->max))
					return kiln_errf(err, KILN_EINVAL, field,
							 "%s must be a list of %d numbers in [%s, %s]",
							 field, op->max_items, lo, hi);
				v[i++] = x->valuedouble;
			}
			spec_fmt_list(v, (size_t)n, ",", text, sizeof(text));
			break;
		}
		}
		if (set_opt(s, idx, text, err) != 0)
			return err->code;
	}
	return 0;
}

static int parse_mud(struct job_spec *s, const cJSON *m, struct kiln_err *err)
{
	int rc;
	if (!cJSON_IsObject(m))
		return fail(err, "mud", "mud must be an object", "", "");
	if ((rc = only_keys(m, MUD_KEYS, "mud.", err)) != 0)
		return rc;
	if ((rc = get_string(m, "model_type", "mud.model_type", spec_model_type_ok,
			     "lowercase letters, digits and _ (e.g. yolov5, yolo11, classifier)",
			     s->model_type, sizeof(s->model_type), err)) < 0)
		return rc;
	if ((rc = get_enum(m, "type", "mud.type", MUD_TYPES, s->mud_type, sizeof(s->mud_type),
			   err)) < 0)
		return rc;
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
	if (labels) {
		int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : -1;
		if (n < 1 || n > SPEC_MAX_LABELS)
			return fail(err, "mud.labels", "mud.labels must be a list of 1 to 4096 "
				    "class names", "", "");
		s->labels = calloc((size_t)n + 1, sizeof(char *));
		if (s->labels == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		for (const cJSON *x = labels->child; x; x = x->next) {
			char field[64];
			snprintf(field, sizeof(field), "mud.labels[%zu]", s->n_labels);
			if (!cJSON_IsString(x) || !spec_label_ok(x->valuestring))
				return fail(err, field, "%s must be 1 to 64 characters without , # ; "
					    "[ ] or control characters, and without blanks at either "
					    "end (MaixPy splits labels on ',' and cuts lines at '#')",
					    field, "");
			if ((s->labels[s->n_labels++] = strdup(x->valuestring)) == NULL)
				return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	}
	const cJSON *anchors = cJSON_GetObjectItemCaseSensitive(m, "anchors");
	if (anchors) {
		int n = cJSON_IsArray(anchors) ? cJSON_GetArraySize(anchors) : -1;
		if (n < 2 || n > SPEC_MAX_ANCHORS || n % 2)
			return fail(err, "mud.anchors", "mud.anchors must be an even count (2 to 64) "
				    "of positive numbers: width,height pairs", "", "");
		s->anchors = calloc((size_t)n, sizeof(double));
		if (s->anchors == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		for (const cJSON *x = anchors->child; x; x = x->next) {
			if (!number_in(x, 1e-6, 1e5))
				return fail(err, "mud.anchors", "mud.anchors must be an even count "
					    "(2 to 64) of positive numbers", "", "");
			s->anchors[s->n_anchors++] = x->valuedouble;
		}
	}
	for (int f = 0; f < SPEC_N_CACHE_FLAGS; f++) {
		char field[64];
		snprintf(field, sizeof(field), "mud.%s", CACHE_KEYS[f]);
		int v;
		if ((rc = get_bool(m, CACHE_KEYS[f], field, &v, err)) < 0)
			return rc;
		if (rc == 1)
			s->cache_flags[f] = v;
	}
	const cJSON *extra = cJSON_GetObjectItemCaseSensitive(m, "extra");
	if (extra) {
		int n = cJSON_IsObject(extra) ? cJSON_GetArraySize(extra) : -1;
		if (n < 0 || n > SPEC_MAX_EXTRA)
			return fail(err, "mud.extra", "mud.extra must be an object of at most 32 "
				    "[extra] keys with string values", "", "");
		s->extra_keys = calloc((size_t)n + 1, sizeof(char *));
		s->extra_values = calloc((size_t)n + 1, sizeof(char *));
		if (s->extra_keys == NULL || s->extra_values == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		for (const cJSON *x = extra->child; x; x = x->next) {
			char field[64];
			snprintf(field, sizeof(field), "mud.extra.%.40s", x->string);
			if (!spec_model_type_ok(x->string) || in_list(x->string, RESERVED_EXTRA))
				return fail(err, field, "%s: keys are lowercase letters, digits and "
					    "_, and not one Kiln writes itself", field, "");
			if (!cJSON_IsString(x) || !mud_value_ok(x->valuestring, 256, 1))
				return fail(err, field, "%s must be a string of 1 to 256 characters "
					    "without # ; [ ] or control characters", field, "");
			s->extra_keys[s->n_extra] = strdup(x->string);
			s->extra_values[s->n_extra] = strdup(x->valuestring);
			if (!s->extra_keys[s->n_extra++] || !s->extra_values[s->n_extra - 1])
				return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	}
	return 0;
}

static int parse_outputs(struct job_spec *s, const cJSON *o, struct kiln_err *err)
{
	if (o == NULL || (cJSON_IsString(o) && strcmp(o->valuestring, "suggested") == 0)) {
		s->outputs_suggested = 1;
		return 0;
	}
	int n = cJSON_IsArray(o) ? cJSON_GetArraySize(o) : -1;
	if (n < 1 || n > SPEC_MAX_OUTPUTS)
		return fail(err, "outputs", "outputs must be \"suggested\" or a list of 1 to 64 "
			    "tensor names", "", "");
	s->outputs = calloc((size_t)n + 1, sizeof(char *));
	if (s->outputs == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	for (const cJSON *x = o->child; x; x = x->next) {
		char field[32];
		snprintf(field, sizeof(field), "outputs[%zu]", s->n_outputs);
		if (!cJSON_IsString(x) || !spec_tensor_ok(x->valuestring))
			return fail(err, field, "%s must be a tensor name of 1 to 255 letters, digits "
				    "and _ . / : - (not starting with -)", field, "");
		for (size_t j = 0; j < s->n_outputs; j++)
			if (strcmp(s->outputs[j], x->valuestring) == 0)
				return fail(err, field, "%s repeats '%s'", field, x->valuestring);
		if ((s->outputs[s->n_outputs++] = strdup(x->valuestring)) == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	return 0;
}

/* Tolerance: [cos, euclid] for TPU-MLIR (npz_tool compare takes both),
 * [cos] for the others (pulsar2's check_cosine_simularity; the figure a job
 * must reach for pulsar and Voyager, which report but never fail): the
 * toolchain row's tolerance_values. */
/* The target's default tolerance ("0.9,0.6") as numbers; how many. */
static int default_tolerance(const struct target *t, double tol[2])
{
	const char *d = t->default_tolerance;
	int n = 0;
	while (d && *d && n < 2) {
		char *end;
		tol[n++] = strtod(d, &end);
		d = *end == ',' ? end + 1 : end;
	}
	return n;
}

static int parse_tolerance(struct job_spec *s, const cJSON *o, struct kiln_err *err)
{
	const struct toolchain *tc = toolchain_find(s->t->toolchain);
	int want = tc ? tc->tolerance_values : 1;
	if (o == NULL) {
		s->n_tol = default_tolerance(s->t, s->tol);
		return 0;
	}
	int n = cJSON_IsArray(o) ? cJSON_GetArraySize(o) : -1;
	char msg[160];
	snprintf(msg, sizeof(msg), "tolerance for %s must be %s, each in [0, 1]", s->t->id,
		 want == 2 ? "[cosine, euclidean]" : "[cosine]");
	if (n != want)
		return fail(err, "tolerance", "%s", msg, "");
	int i = 0;
	for (const cJSON *x = o->child; x; x = x->next) {
		if (!number_in(x, 0, 1))
			return fail(err, "tolerance", "%s", msg, "");
		s->tol[i++] = x->valuedouble;
	}
	s->n_tol = n;
	return 0;
}

int spec_tolerance_is_default(const struct job_spec *s)
{
	double d[2];
	if (default_tolerance(s->t, d) != s->n_tol)
		return 0;
	for (int i = 0; i < s->n_tol; i++)
		if (d[i] != s->tol[i])
			return 0;
	return 1;
}

/* The anchors the model's YOLOv5 Detect head holds (the inspection's
 * "anchors", rows per level, onnx_suggest.c), flattened into v; 0 when
 * the inspection has none (another head, a grid computed in the graph, or
 * a record inspected before anchors were read). */
static size_t model_anchors(const cJSON *insp, double *v)
{
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(insp, "anchors");
	size_t n = 0;
	for (const cJSON *r = cJSON_IsArray(rows) ? rows->child : NULL; r; r = r->next)
		for (const cJSON *x = cJSON_IsArray(r) ? r->child : NULL; x; x = x->next) {
			if (!cJSON_IsNumber(x) || x->valuedouble <= 0 || n >= SPEC_MAX_ANCHORS)
				return 0;
			v[n++] = x->valuedouble;
		}
	return n % 2 ? 0 : n;
}

static void anchors_text(const double *v, size_t n, char *buf, size_t cap)
{
	spec_fmt_list(v, n, ",", buf, cap);
	if (strlen(buf) + 1 >= cap && cap > 4)
		snprintf(buf + cap - 4, 4, "...");
}

/* yolov5's mud.anchors.  There is no default to fall back on: MaixCDK's
 * loader has none (sipeed/MaixCDK @ d9741a207552b6e1a38eb247cf4bf62fd5df987d
 * components/nn/include/maix_nn_yolov5.hpp, load(): without [extra]
 * anchors it logs "anchors key not found" and returns err::ERR_ARGS), and
 * a model trained with its own anchors decodes into wrong boxes with
 * yolov5s's.  So: the spec's, else the ones the export carries in its
 * Detect head; the two must agree.  Neither is a 400 for the targets whose
 * .mud the board reads (maixcam, maixcam2) -- unless the inspection found
 * another family's head, which loader_check_submit names as a wrong
 * mud.model_type (the real mistake).  Metis refuses a missing one itself
 * (recipe_metis.c, decodeyolo). */
static int yolov5_anchors(struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	double mv[SPEC_MAX_ANCHORS];
	size_t mn = model_anchors(insp, mv);
	char mine[64], theirs[64];   /* both in kiln_err's 256 bytes */
	if (s->n_anchors && mn) {
		int same = s->n_anchors == mn;
		/* float32 in the model, decimal text in the spec */
		for (size_t i = 0; same && i < mn; i++)
			same = fabs(s->anchors[i] - mv[i]) <= 1e-3 * fabs(mv[i]) + 1e-3;
		if (same)
			return 0;
		anchors_text(s->anchors, s->n_anchors, mine, sizeof(mine));
		anchors_text(mv, mn, theirs, sizeof(theirs));
		return kiln_errf(err, KILN_EINVAL, "mud.anchors",
				 "mud.anchors [%s] contradicts the model's own (its YOLOv5 "
				 "Detect head's anchor_grid: [%s]); leave mud.anchors out to "
				 "use the model's", mine, theirs);
	}
	if (s->n_anchors)
		return 0;
	if (mn) {
		if ((s->anchors = malloc(mn * sizeof(double))) == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		memcpy(s->anchors, mv, mn * sizeof(double));
		s->n_anchors = mn;
		return 0;
	}
	/* without the model's inspection (a spec checked on its own) there
	 * is nothing to decide with: submit always has one */
	const char *fam = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(insp, "suggested_model_type"));
	if (insp == NULL || strcmp(s->t->bundle, "mud") != 0 || (fam && strcmp(fam, "yolov5") != 0))
		return 0;
	/* the message fits struct kiln_err's 256 bytes */
	return kiln_errf(err, KILN_EINVAL, "mud.anchors",
			 "mud.anchors is required for model_type yolov5 (MaixCDK: \"anchors key "
			 "not found\") and the model has no anchor_grid to take them from: give "
			 "its yaml's anchors, w,h pixels, stride 8 first, e.g. "
			 "[10,13,16,30,33,23,30,61,62,45,59,119,116,90,156,198,373,326]");
}

/* No mud.labels: the class names the model carries (an Ultralytics
 * export's metadata "names", onnx_names.h), when every one is a usable
 * MUD label, so nobody types 80 labels per board. */
static int labels_from_model(struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(insp, "suggested_labels");
	int n = cJSON_GetArraySize(names);
	if (s->n_labels || !cJSON_IsArray(names) || n < 1 || n > 4096)
		return 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, names)
		if (!cJSON_IsString(x) || !spec_label_ok(x->valuestring))
			return 0;
	if ((s->labels = calloc((size_t)n + 1, sizeof(char *))) == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	cJSON_ArrayForEach(x, names)
		if ((s->labels[s->n_labels++] = strdup(x->valuestring)) == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	return 0;
}

static int check_mud_needs(struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	int rc;
	if (in_list(s->model_type, NEED_LABELS) && (rc = labels_from_model(s, insp, err)) != 0)
		return rc;
	if (in_list(s->model_type, NEED_LABELS) && s->n_labels == 0 &&
	    strcmp(s->t->bundle, "mud") == 0)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "mud.labels is required for model_type %s: MaixPy's %s class reads "
				 "the class names from the .mud", s->model_type, s->model_type);
	if (strcmp(s->model_type, "yolov5") == 0 && (rc = yolov5_anchors(s, insp, err)) != 0)
		return rc;
	int axmodel = s->t->mud_type && strcmp(s->t->mud_type, "axmodel") == 0;
	for (int f = 0; f < SPEC_N_CACHE_FLAGS && !axmodel; f++) {
		if (s->cache_flags[f] >= 0) {
			char field[64];
			snprintf(field, sizeof(field), "mud.%s", CACHE_KEYS[f]);
			return kiln_errf(err, KILN_EINVAL, field, "%s is a MaixCAM2 (.axmodel) "
					 "setting; target %s does not use it", field, s->t->id);
		}
	}
	return 0;
}

static int parse(struct job_spec *s, const cJSON *j, const cJSON *insp, struct kiln_err *err)
{
	int rc;
	char ids[128];
	if (!cJSON_IsObject(j))
		return fail(err, "", "the job spec must be a JSON object", "", "");
	if ((rc = only_keys(j, TOP_KEYS, "", err)) != 0)
		return rc;
	targets_ids_text(ids, sizeof(ids));
	const cJSON *tj = cJSON_GetObjectItemCaseSensitive(j, "target");
	if (!cJSON_IsString(tj) || (s->t = targets_find(tj->valuestring)) == NULL)
		return fail(err, "target", "target must be one of: %s", ids, "");
	snprintf(s->target, sizeof(s->target), "%s", s->t->id);
	const char *idrule = "an id of 1 to 128 letters, digits and . _ : - (starting with a "
			     "letter or digit)";
	if ((rc = get_id(j, "model", idrule, s->model, sizeof(s->model), err)) <= 0)
		return rc < 0 ? rc : fail(err, "model", "model is required: %s", idrule, "");
	if ((rc = get_id(j, "dataset", idrule, s->dataset, sizeof(s->dataset), err)) <= 0)
		return rc < 0 ? rc : fail(err, "dataset", "dataset is required (the calibration "
					  "images): %s", idrule, "");
	snprintf(s->name, sizeof(s->name), "model");
	if ((rc = get_string(j, "name", "name", spec_name_ok,
			     "1 to 40 letters, digits and . _ - (starting with a letter or digit)",
			     s->name, sizeof(s->name), err)) < 0)
		return rc;
	if ((rc = get_string(j, "test_image", "test_image", spec_id_ok, idrule, s->test_image,
			     sizeof(s->test_image), err)) < 0)
		return rc;
	if ((rc = get_bool(j, "cache", "cache", &s->cache, err)) < 0)
		return rc;

	snprintf(s->pixel_format, sizeof(s->pixel_format), "rgb");
	snprintf(s->layout, sizeof(s->layout), "nchw");
	s->keep_aspect_ratio = 1;
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
	if (in && (rc = parse_input(s, in, err)) != 0)
		return rc;
	if (in == NULL) {
		/* YOLO's convention (seeds 000-002): RGB scaled to [0, 1]. */
		s->n_ch = strcmp(s->pixel_format, "gray") == 0 ? 1 : 3;
		for (int i = 0; i < s->n_ch; i++) {
			s->mean[i] = 0;
			s->scale[i] = 1.0 / 255;
			s->std[i] = 255;
		}
	}
	if ((rc = parse_outputs(s, cJSON_GetObjectItemCaseSensitive(j, "outputs"), err)) != 0)
		return rc;

	snprintf(s->quantize, sizeof(s->quantize), "%s", s->t->default_quantize);
	if ((rc = get_enum(j, "quantize", "quantize", QUANTS, s->quantize, sizeof(s->quantize),
			   err)) < 0)
		return rc;
	if (!targets_quantize_ok(s->t, s->quantize)) {
		char allowed[64] = "";
		for (size_t i = 0; QUANTS[i]; i++)
			if (targets_quantize_ok(s->t, QUANTS[i]))
				snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed),
					 "%s%s", allowed[0] ? ", " : "", QUANTS[i]);
		return kiln_errf(err, KILN_EINVAL, "quantize",
				 "quantize %s is not available on %s (allowed: %s)", s->quantize,
				 s->t->id, allowed);
	}

	s->calib_count = s->t->default_calib_count;
	if (s->t->default_calib_method)
		snprintf(s->calib_method, sizeof(s->calib_method), "%s", s->t->default_calib_method);
	const cJSON *cal = cJSON_GetObjectItemCaseSensitive(j, "calibration");
	if (cal) {
		if (!cJSON_IsObject(cal))
			return fail(err, "calibration", "calibration must be an object", "", "");
		if ((rc = only_keys(cal, CALIB_KEYS, "calibration.", err)) != 0)
			return rc;
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(cal, "count");
		if (c) {
			if (!integer_in(c, 1, SPEC_MAX_CALIB))
				return fail(err, "calibration.count", "calibration.count must be an "
					    "integer from 1 to 10000", "", "");
			s->calib_count = (int)c->valuedouble;
		}
		if (cJSON_HasObjectItem(cal, "method") && s->t->calib_methods == NULL)
			return kiln_errf(err, KILN_EINVAL, "calibration.method",
					 "calibration.method: %s's toolchain (%s) has no choice of "
					 "calibration method; leave it out", s->t->id, s->t->toolchain);
		if (s->t->calib_methods &&
		    (rc = get_enum(cal, "method", "calibration.method", s->t->calib_methods,
				   s->calib_method, sizeof(s->calib_method), err)) < 0)
			return rc;
	}
	if ((rc = parse_tolerance(s, cJSON_GetObjectItemCaseSensitive(j, "tolerance"), err)) != 0)
		return rc;
	s->opts = calloc(s->t->n_options + 1, sizeof(char *));
	if (s->opts == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if ((rc = parse_target_options(s, cJSON_GetObjectItemCaseSensitive(j, "target_options"),
				       err)) != 0)
		return rc;
	const cJSON *mud = cJSON_GetObjectItemCaseSensitive(j, "mud");
	if (mud && (rc = parse_mud(s, mud, err)) != 0)
		return rc;
	if (insp && (rc = apply_inspection(s, insp, err)) != 0)
		return rc;
	return check_mud_needs(s, insp, err);
}

int spec_parse(const cJSON *json, const cJSON *inspection, struct job_spec **out,
	       struct kiln_err *err)
{
	*out = NULL;
	kiln_err_clear(err);
	struct job_spec *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	s->cache = 1;
	for (int f = 0; f < SPEC_N_CACHE_FLAGS; f++)
		s->cache_flags[f] = -1;
	int rc = parse(s, json, inspection, err);
	if (rc != 0) {
		spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int spec_parse_text(const char *text, size_t len, const cJSON *inspection,
		    struct job_spec **out, struct kiln_err *err)
{
	*out = NULL;
	cJSON *j = cJSON_ParseWithLength(text, len);
	if (j == NULL)
		return kiln_errf(err, KILN_EINVAL, "", "the job spec is not valid JSON");
	int rc = spec_parse(j, inspection, out, err);
	cJSON_Delete(j);
	return rc;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void spec_free(struct job_spec *s)
{
	if (s == NULL)
		return;
	free(s->input_name);
	free_strv(s->outputs, s->n_outputs);
	free_strv(s->opts, s->t ? s->t->n_options : 0);
	free_strv(s->labels, s->n_labels);
	free(s->anchors);
	free_strv(s->extra_keys, s->n_extra);
	free_strv(s->extra_values, s->n_extra);
	free(s);
}

const char *spec_opt(const struct job_spec *s, const char *key)
{
	const struct target_option *op = target_option_find(s->t, key);
	return op ? s->opts[op - s->t->options] : NULL;
}

int spec_opt_bool(const struct job_spec *s, const char *key)
{
	const char *v = spec_opt(s, key);
	return v && strcmp(v, "true") == 0;
}

double spec_opt_num(const struct job_spec *s, const char *key)
{
	const char *v = spec_opt(s, key);
	return v ? strtod(v, NULL) : 0;
}

/* --- canonical form --------------------------------------------------------- */

/* Objects get their keys in byte order, so the same spec always prints the
 * same bytes (the cache key hashes them). */
static void sort_keys(cJSON *o)
{
	for (cJSON *c = o ? o->child : NULL; c; c = c->next)
		sort_keys(c);
	if (!cJSON_IsObject(o) || o->child == NULL)
		return;
	cJSON *sorted = NULL;
	cJSON *c = o->child;
	while (c) {
		cJSON *next = c->next;
		c->prev = c->next = NULL;
		if (sorted == NULL || strcmp(c->string, sorted->string) < 0) {
			c->next = sorted;
			sorted = c;
		} else {
			cJSON *p = sorted;
			while (p->next && strcmp(p->next->string, c->string) <= 0)
				p = p->next;
			c->next = p->next;
			p->next = c;
		}
		c = next;
	}
	/* cJSON keeps child->prev pointing at the last item. */
	cJSON *last = sorted;
	for (cJSON *p = sorted; p; p = p->next) {
		if (p->next)
			p->next->prev = p;
		last = p;
	}
	if (sorted)
		sorted->prev = last;
	o->child = sorted;
}

static cJSON *numbers(const double *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

static cJSON *strv(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *typed_opt(const struct target_option *op, const char *v)
{
	switch (op->type) {
	case TOPT_BOOL:
		return cJSON_CreateBool(strcmp(v, "true") == 0);
	case TOPT_INT:
	case TOPT_NUMBER:
		return cJSON_CreateNumber(strtod(v, NULL));
	case TOPT_NUMLIST: {
		double x[8];
		size_t n = 0;
		const char *p = v;
		while (*p && n < 8) {
			char *end;
			x[n++] = strtod(p, &end);
			p = *end == ',' ? end + 1 : end;
		}
		return numbers(x, n);
	}
	case TOPT_ENUM:
	default:
		return cJSON_CreateString(v);
	}
}

cJSON *spec_to_json(const struct job_spec *s)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	add_id(o, "model", s->model);
	add_id(o, "dataset", s->dataset);
	cJSON_AddStringToObject(o, "target", s->target);
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON *in = cJSON_AddObjectToObject(o, "input");
	if (in) {
		if (s->rank > 0) {
			double d[SPEC_MAX_RANK];
			for (int i = 0; i < s->rank; i++)
				d[i] = (double)s->shape[i];
			cJSON_AddItemToObject(in, "shape", numbers(d, (size_t)s->rank));
		}
		cJSON_AddStringToObject(in, "pixel_format", s->pixel_format);
		cJSON_AddItemToObject(in, "mean", numbers(s->mean, (size_t)s->n_ch));
		if (s->std_given)
			cJSON_AddItemToObject(in, "std", numbers(s->std, (size_t)s->n_ch));
		else
			cJSON_AddItemToObject(in, "scale", numbers(s->scale, (size_t)s->n_ch));
		cJSON_AddBoolToObject(in, "keep_aspect_ratio", s->keep_aspect_ratio);
		cJSON_AddStringToObject(in, "layout", s->layout);
	}
	if (s->n_outputs)
		cJSON_AddItemToObject(o, "outputs", strv(s->outputs, s->n_outputs));
	else
		cJSON_AddStringToObject(o, "outputs", "suggested");
	cJSON_AddStringToObject(o, "quantize", s->quantize);
	cJSON *cal = cJSON_AddObjectToObject(o, "calibration");
	if (cal) {
		cJSON_AddNumberToObject(cal, "count", s->calib_count);
		if (s->calib_method[0])
			cJSON_AddStringToObject(cal, "method", s->calib_method);
	}
	if (s->n_tol)
		cJSON_AddItemToObject(o, "tolerance", numbers(s->tol, (size_t)s->n_tol));
	cJSON *to = cJSON_AddObjectToObject(o, "target_options");
	for (size_t i = 0; to && i < s->t->n_options; i++)
		if (s->opts[i])
			cJSON_AddItemToObject(to, s->t->options[i].key,
					      typed_opt(&s->t->options[i], s->opts[i]));
	cJSON *m = cJSON_AddObjectToObject(o, "mud");
	if (m) {
		if (s->model_type[0])
			cJSON_AddStringToObject(m, "model_type", s->model_type);
		if (s->mud_type[0])
			cJSON_AddStringToObject(m, "type", s->mud_type);
		if (s->n_labels)
			cJSON_AddItemToObject(m, "labels", strv(s->labels, s->n_labels));
		if (s->n_anchors)
			cJSON_AddItemToObject(m, "anchors", numbers(s->anchors, s->n_anchors));
		for (int f = 0; f < SPEC_N_CACHE_FLAGS; f++)
			if (s->cache_flags[f] >= 0)
				cJSON_AddBoolToObject(m, CACHE_KEYS[f], s->cache_flags[f]);
		if (s->n_extra) {
			cJSON *x = cJSON_AddObjectToObject(m, "extra");
			for (size_t i = 0; x && i < s->n_extra; i++)
				cJSON_AddStringToObject(x, s->extra_keys[i], s->extra_values[i]);
		}
	}
	if (s->test_image[0])
		cJSON_AddStringToObject(o, "test_image", s->test_image);
	cJSON_AddBoolToObject(o, "cache", s->cache);
	sort_keys(o);
	return o;
}

char *spec_canonical(const struct job_spec *s)
{
	cJSON *o = spec_to_json(s);
	char *t = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return t;
}
