/*
 * mud: write, read and check .mud files the way MaixPy loads them.
 *
 * The rules and messages follow ../shared/reference/mud.md (MaixCDK's
 * maix_nn.cpp, the model classes' [extra] checks, inifile2's parsing).
 * Messages quote MaixCDK's own words where it has them, so what a person
 * sees here is what the board would have said.  Never touches the network
 * or a job; the only I/O is mud_read's file and mud_validate's stat().
 */
#include "conversion/mud.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

static pthread_once_t ini_once = PTHREAD_ONCE_INIT;

/* inih keeps its limits in globals (Debian's build exposes them): a heap
 * line buffer that may grow to MUD_MAX_LINE. */
static void ini_setup(void)
{
	ini_use_stack = false;
	ini_allow_realloc = true;
	if (ini_max_line < MUD_MAX_LINE)
		ini_max_line = MUD_MAX_LINE;
}

struct mud *mud_new(void)
{
	return calloc(1, sizeof(struct mud));
}

void mud_free(struct mud *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].section);
		free(m->e[i].key);
		free(m->e[i].value);
	}
	free(m->e);
	free(m);
}

static struct mud_entry *find(const struct mud *m, const char *section, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->e[i].section, section) == 0 && strcmp(m->e[i].key, key) == 0)
			return &m->e[i];
	return NULL;
}

const char *mud_get(const struct mud *m, const char *section, const char *key)
{
	const struct mud_entry *e = m ? find(m, section, key) : NULL;
	return e ? e->value : NULL;
}

int mud_set(struct mud *m, const char *section, const char *key, const char *value,
	    struct kiln_err *err)
{
	struct mud_entry *e = find(m, section, key);
	if (e) {
		char *v = strdup(value);
		if (v == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		free(e->value);
		e->value = v;
		return 0;
	}
	if (m->n >= MUD_MAX_ENTRIES)
		return kiln_errf(err, KILN_ETOOBIG, "mud", "a .mud has at most %d keys",
				 MUD_MAX_ENTRIES);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mud_entry *ne = realloc(m->e, cap * sizeof(*ne));
		if (ne == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		m->e = ne;
		m->cap = cap;
	}
	struct mud_entry n = {strdup(section), strdup(key), strdup(value)};
	if (!n.section || !n.key || !n.value) {
		free(n.section);
		free(n.key);
		free(n.value);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	m->e[m->n++] = n;
	return 0;
}

char *mud_to_text(const struct mud *m)
{
	size_t cap = 64;
	for (size_t i = 0; i < m->n; i++)
		cap += strlen(m->e[i].section) + strlen(m->e[i].key) + strlen(m->e[i].value) + 16;
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	size_t off = 0;
	out[0] = '\0';
	/* Sections in order of first appearance, each once. */
	for (size_t i = 0; i < m->n; i++) {
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->e[j].section, m->e[i].section) == 0)
				seen = 1;
		if (seen)
			continue;
		off += (size_t)snprintf(out + off, cap - off, "%s[%s]\n", off ? "\n" : "",
					m->e[i].section);
		for (size_t j = i; j < m->n; j++)
			if (strcmp(m->e[j].section, m->e[i].section) == 0)
				off += (size_t)snprintf(out + off, cap - off, "%s = %s\n",
							m->e[j].key, m->e[j].value);
	}
	return out;
}

/* --- reading ---------------------------------------------------------------- */

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Lines inih and inifile2 would read differently are refused (see header). */
static int compat_check(const char *text, size_t len, struct kiln_err *err)
{
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		return kiln_errf(err, KILN_EINVAL, "mud", "line 1: a UTF-8 BOM; MaixPy reads the "
				 "first line as a key without '=' (err 5): save without BOM");
	char sections[64][64];
	int nsec = 0;
	size_t lineno = 0;
	for (size_t pos = 0; pos < len;) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		const char *l = text + pos;
		size_t n = end - pos;
		pos = end + 1;
		if (memchr(l, '\0', n))
			return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: a NUL byte", lineno);
		size_t a = 0, b = n;
		while (a < b && blank(l[a]))
			a++;
		while (b > a && blank(l[b - 1]))
			b--;
		if (a == b || l[a] == '#' || l[a] == ';')
			continue;
		if (a > 0)
			return kiln_errf(err, KILN_EINVAL, "mud", "line %zu starts with a blank: inih "
					 "reads it as the previous value's continuation, MaixPy as a "
					 "key of its own; remove the indentation", lineno);
		for (size_t i = a; i < b; i++) {
			if (l[i] == '#')
				return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: MaixPy cuts the "
						 "line at '#' (a comment); remove it from the value",
						 lineno);
			if (l[i] == ';' && i > a && blank(l[i - 1]))
				return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: \" ;\" starts a "
						 "comment for inih but not for MaixPy; remove it",
						 lineno);
		}
		if (l[a] == '[') {
			const char *close = memchr(l + a, ']', b - a);
			if (close == NULL)
				return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: section without "
						 "']' (MaixPy err 2)", lineno);
			size_t sa = a + 1, sb = (size_t)(close - l);
			while (sa < sb && blank(l[sa]))
				sa++;
			while (sb > sa && blank(l[sb - 1]))
				sb--;
			if (sa == sb)
				return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: empty section name "
						 "(MaixPy err 3)", lineno);
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(sb - sa), l + sa);
			for (int i = 0; i < nsec; i++)
				if (strcmp(sections[i], name) == 0)
					return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: section "
							 "[%s] appears twice (MaixPy err 4)", lineno,
							 name);
			if (nsec < 64)
				snprintf(sections[nsec++], sizeof(sections[0]), "%s", name);
			continue;
		}
		const char *eq = memchr(l + a, '=', b - a);
		const char *colon = memchr(l + a, ':', b - a);
		if (eq == NULL)
			return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: not a key = value line "
					 "(MaixPy err 5)", lineno);
		if (colon && colon < eq)
			return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: ':' before '=': inih "
					 "splits the key there, MaixPy at '='", lineno);
		if (nsec == 0)
			return kiln_errf(err, KILN_EINVAL, "mud", "line %zu: a key before any "
					 "[section]", lineno);
	}
	return 0;
}

struct read_ctx {
	struct mud *m;
	struct kiln_err *err;
	int failed;
};

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
	struct read_ctx *c = user;
	if (c->failed)
		return 0;
	if (find(c->m, section, key))
		return 1; /* inifile2 keeps the first value of a duplicate key */
	if (mud_set(c->m, section, key, value, c->err) != 0) {
		c->failed = 1;
		return 0;
	}
	return 1;
}

int mud_parse_text(const char *text, size_t len, struct mud **out, struct kiln_err *err)
{
	*out = NULL;
	if (len > MUD_MAX_BYTES)
		return kiln_errf(err, KILN_ETOOBIG, "mud", "a .mud is at most 1 MiB");
	int rc = compat_check(text, len, err);
	if (rc != 0)
		return rc;
	pthread_once(&ini_once, ini_setup);
	char *copy = malloc(len + 1);
	struct mud *m = mud_new();
	if (copy == NULL || m == NULL) {
		free(copy);
		mud_free(m);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	struct read_ctx c = {m, err, 0};
	int line = ini_parse_string(copy, on_ini, &c);
	free(copy);
	if (c.failed) {
		mud_free(m);
		return err->code;
	}
	if (line != 0) {
		mud_free(m);
		return kiln_errf(err, KILN_EINVAL, "mud", "line %d: not an ini line", line);
	}
	*out = m;
	return 0;
}

int mud_read(const char *path, struct mud **out, struct kiln_err *err)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return kiln_errf(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "mud",
				 "cannot open %s: %s", path, strerror(errno));
	char *buf = malloc(MUD_MAX_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MUD_MAX_BYTES + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (buf == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (bad) {
		free(buf);
		return kiln_errf(err, KILN_EIO, "mud", "cannot read %s", path);
	}
	int rc = mud_parse_text(buf, n, out, err);
	free(buf);
	return rc;
}

/* --- MaixPy's checks ------------------------------------------------------- */

static int file_in(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A comma list of floats as std::stof reads them; an empty item (trailing
 * comma) is MaixCDK's "value error, should float". */
static int float_list(const char *v, int *count)
{
	*count = 0;
	const char *p = v;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		char *end;
		double x = strtod(p, &end);
		if (end == p || !isfinite(x))
			return 0;
		(*count)++;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return 1;
		if (*p != ',')
			return 0;
		p++;
	}
}

static const char *const YOLO[] = {"yolov5", "yolov8", "yolo11", NULL};

static int in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; s && list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

static int validate_extra(const struct mud *m, const char *dir, struct kiln_err *err)
{
	const char *mt = mud_get(m, "extra", "model_type");
	const char *const need[] = {"yolov5", "yolov8", "yolo11", "classifier", NULL};
	if (mt == NULL || !in_list(mt, need))
		return 0; /* nn.NN loads any model; only the model classes read [extra] */
	const char *it = mud_get(m, "extra", "input_type");
	int classifier = strcmp(mt, "classifier") == 0;
	if (it == NULL)
		return kiln_errf(err, KILN_EINVAL, "extra.input_type", "input_type key not found");
	if (strcmp(it, "rgb") && strcmp(it, "bgr") && !(classifier && strcmp(it, "gray") == 0))
		return kiln_errf(err, KILN_EINVAL, "extra.input_type", "unknown input type: %s", it);
	const char *const fl[] = {"mean", "scale"};
	for (int i = 0; i < 2; i++) {
		const char *v = mud_get(m, "extra", fl[i]);
		int n;
		if (v == NULL)
			return kiln_errf(err, KILN_EINVAL, fl[i], "%s key not found", fl[i]);
		if (!float_list(v, &n))
			return kiln_errf(err, KILN_EINVAL, fl[i], "%s value error, should float",
					 fl[i]);
		if (n != 1 && n != 3)
			return kiln_errf(err, KILN_EINVAL, fl[i], "%s must have 1 or 3 values, "
					 "has %d", fl[i], n);
	}
	const char *labels = mud_get(m, "extra", "labels");
	if (labels == NULL || labels[0] == '\0')
		return kiln_errf(err, KILN_EINVAL, "extra.labels", "labels key not found");
	if (!strpbrk(labels, ", \t") && dir && !file_in(dir, labels) && strchr(labels, '.'))
		return kiln_errf(err, KILN_EINVAL, "extra.labels", "labels names the file %s, "
				 "which is not next to the .mud", labels);
	if (strcmp(mt, "yolov5") == 0) {
		const char *a = mud_get(m, "extra", "anchors");
		int n;
		if (a == NULL)
			return kiln_errf(err, KILN_EINVAL, "extra.anchors", "anchors key not found");
		if (!float_list(a, &n) || n % 2)
			return kiln_errf(err, KILN_EINVAL, "extra.anchors", "anchors must be "
					 "width,height pairs (an even count of numbers)");
	}
	const char *ty = mud_get(m, "extra", "type");
	if (ty && in_list(mt, YOLO) && strcmp(mt, "yolov5") != 0) {
		const char *const types[] = {"detector", "pose", "seg", "obb", NULL};
		if (!in_list(ty, types))
			return kiln_errf(err, KILN_EINVAL, "extra.type", "unknown type %s for %s "
					 "(detector, pose, seg, obb)", ty, mt);
	}
	const char *const flags[] = {"input_cache", "output_cache", "input_cache_flush",
				     "output_cache_inval", NULL};
	for (size_t i = 0; flags[i]; i++) {
		const char *v = mud_get(m, "extra", flags[i]);
		/* MaixCDK turns anything but "true" into false without a word. */
		if (v && strcmp(v, "true") && strcmp(v, "false"))
			return kiln_errf(err, KILN_EINVAL, flags[i], "%s must be true or false, "
					 "not %s", flags[i], v);
	}
	return 0;
}

int mud_validate(const struct mud *m, const char *dir, struct kiln_err *err)
{
	const char *type = mud_get(m, "basic", "type");
	if (type == NULL)
		return kiln_errf(err, KILN_EINVAL, "basic.type", "parse model failed, not found type");
	if (strcmp(type, "cvimodel") == 0) {
		const char *model = mud_get(m, "basic", "model");
		if (model == NULL || model[0] == '\0')
			return kiln_errf(err, KILN_EINVAL, "basic.model", "model not found basic.model key");
		if (dir && !file_in(dir, model))
			return kiln_errf(err, KILN_EINVAL, "basic.model", "cvimodel path %s not exists",
					 model);
	} else if (strcmp(type, "axmodel") == 0) {
		const char *npu = mud_get(m, "basic", "model_npu");
		const char *vnpu = mud_get(m, "basic", "model_vnpu");
		if (npu == NULL && vnpu == NULL)
			return kiln_errf(err, KILN_EINVAL, "basic.model_npu",
					 "model need basic.model_npu or basic.model_vnpu key");
		if (dir && npu && !file_in(dir, npu))
			return kiln_errf(err, KILN_EINVAL, "basic.model_npu", "axmodel path %s not "
					 "exists", npu);
		if (dir && vnpu && !file_in(dir, vnpu))
			return kiln_errf(err, KILN_EINVAL, "basic.model_vnpu", "axmodel path %s not "
					 "exists", vnpu);
	} else {
		return kiln_errf(err, KILN_EINVAL, "basic.type", "model type not match, expect "
				 "cvimodel or axmodel, but %s", type);
	}
	return validate_extra(m, dir, err);
}

/* --- the MUD of a job ------------------------------------------------------- */

int mud_for_spec(const struct job_spec *s, const char *model, const char *model_npu,
		 const char *model_vnpu, struct mud **out, struct kiln_err *err)
{
	*out = NULL;
	if (s->t->mud_type == NULL)
		return kiln_errf(err, KILN_EINVAL, "target", "target %s has no .mud", s->t->id);
	struct mud *m = mud_new();
	if (m == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int rc = mud_set(m, "basic", "type", s->t->mud_type, err);
	if (rc == 0 && model)
		rc = mud_set(m, "basic", "model", model, err);
	if (rc == 0 && model_npu)
		rc = mud_set(m, "basic", "model_npu", model_npu, err);
	if (rc == 0 && model_vnpu)
		rc = mud_set(m, "basic", "model_vnpu", model_vnpu, err);
	if (rc == 0 && s->model_type[0])
		rc = mud_set(m, "extra", "model_type", s->model_type, err);
	if (rc == 0 && s->mud_type[0])
		rc = mud_set(m, "extra", "type", s->mud_type, err);
	if (rc == 0)
		rc = mud_set(m, "extra", "input_type", s->pixel_format, err);
	/* MaixPy's "mean"/"scale" use y = (x - mean) * scale in pixel units,
	 * TPU-MLIR's convention, written ", "-separated like seed 001. */
	char buf[512];
	if (rc == 0) {
		spec_fmt_list(s->mean, (size_t)s->n_ch, ", ", buf, sizeof(buf));
		rc = mud_set(m, "extra", "mean", buf, err);
	}
	if (rc == 0) {
		spec_fmt_list(s->scale, (size_t)s->n_ch, ", ", buf, sizeof(buf));
		rc = mud_set(m, "extra", "scale", buf, err);
	}
	if (rc == 0 && s->n_anchors) {
		/* "10,13, 16,30, ..." : pairs, as in seed 001 */
		size_t off = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < s->n_anchors && off + 48 < sizeof(buf); i++) {
			char num[40];
			spec_fmt_number(s->anchors[i], num, sizeof(num));
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
						i == 0 ? "" : (i % 2 ? "," : ", "), num);
		}
		rc = mud_set(m, "extra", "anchors", buf, err);
	}
	if (rc == 0 && s->n_labels) {
		size_t cap = 1;
		for (size_t i = 0; i < s->n_labels; i++)
			cap += strlen(s->labels[i]) + 2;
		char *l = malloc(cap);
		if (l == NULL) {
			rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		} else {
			size_t off = 0;
			for (size_t i = 0; i < s->n_labels; i++)
				off += (size_t)snprintf(l + off, cap - off, "%s%s", i ? ", " : "",
							s->labels[i]);
			rc = mud_set(m, "extra", "labels", l, err);
			free(l);
		}
	}
	if (rc == 0 && strcmp(s->t->mud_type, "axmodel") == 0) {
		/* Seed 000's rule: cached buffers both ways; flush the input
		 * only when the first layer runs on the NPU — Kiln always
		 * embeds preprocessing (input_processors, U8 NHWC), which runs
		 * on the CPU, so false; invalidate the output because the last
		 * layer is an NPU one ("if unsure, true"). */
		const int rule[SPEC_N_CACHE_FLAGS] = {1, 1, 0, 1};
		const char *const keys[SPEC_N_CACHE_FLAGS] = {"input_cache", "output_cache",
							      "input_cache_flush",
							      "output_cache_inval"};
		for (int f = 0; rc == 0 && f < SPEC_N_CACHE_FLAGS; f++) {
			int v = s->cache_flags[f] >= 0 ? s->cache_flags[f] : rule[f];
			rc = mud_set(m, "extra", keys[f], v ? "true" : "false", err);
		}
	}
	for (size_t i = 0; rc == 0 && i < s->n_extra; i++)
		rc = mud_set(m, "extra", s->extra_keys[i], s->extra_values[i], err);
	if (rc != 0) {
		mud_free(m);
		return rc;
	}
	*out = m;
	return 0;
}
