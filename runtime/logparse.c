/*
 * logparse: the table of log parsers and each parser's line matcher (see
 * logparse.h).
 *
 * The line shapes come from ../shared/reference/tpu-mlir.md (§4 npz_tool
 * compare, §6 run_qtable) and axera-axelera.md (pulsar2 precision table,
 * legacy pulsar score table).  Matchers look for the vendor's keywords
 * anywhere in the line rather than at column 0, because the tools' loggers
 * add date prefixes that change between versions.  A line that does not
 * match is ignored: a parser must never fail a job.
 */
#include "runtime/logparse.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* A name taken from a log line (a tensor, a layer) is for display only; cut
 * it so one absurd line cannot grow the job's figures. */
#define NAME_MAX_LEN 128
/* The pulsar2 table has a handful of columns; more cells mean it is not it. */
#define MAX_CELLS 16

struct pending_tpu {
	int active;
	char compare[NAME_MAX_LEN];  /* "tpu vs top", from the npz_tool line */
	char output[NAME_MAX_LEN];
	char status[32];
	int passed;          /* 1 PASSED, 0 FAILED, -1 not printed */
	int have_cos, have_euc, have_sqnr;
	double cos, euc, sqnr;
};

struct pending_p2 {
	int in_table;        /* after the "Quant Precision Table" title */
	int col_out, col_cos, col_mse, col_op, n_cols; /* from the header row */
	int rows;
	char title[NAME_MAX_LEN];  /* "PerLayer Reference" */
	cJSON *layers;       /* [{layer, output, cosine, mse}], in table order */
	char min_layer[NAME_MAX_LEN];
	double min_cos;
};

struct logparse {
	const struct logparse_kind *kind;
	char id[LOGPARSE_ID_MAX];  /* the toolchain row's parser id, for figures */
	double progress;     /* logparse_progress: the furthest reported */
	struct pending_tpu tpu;
	struct pending_p2 p2;
};

typedef int (*line_fn)(struct logparse *p, const char *line, size_t len, cJSON *figs);
typedef int (*end_fn)(struct logparse *p, cJSON *figs);

/* One row per progress bar a tool prints (see the parsers' tables below). */
struct bar_stage {
	const char *label;
	double lo, hi;
};

/* A parser's line matcher, end-of-output flush and progress bars.  Which
 * toolchain's lines go through which parser is the toolchain row's
 * (runtime/toolchain.c), so no toolchain is named here. */
struct logparse_kind {
	line_fn line;
	end_fn end;
	const struct bar_stage *stages;
	size_t n_stages;
};

static int tpu_line(struct logparse *p, const char *line, size_t len, cJSON *figs);
static int tpu_end(struct logparse *p, cJSON *figs);
static int pulsar_line(struct logparse *p, const char *line, size_t len, cJSON *figs);
static int p2_line(struct logparse *p, const char *line, size_t len, cJSON *figs);
static int p2_end(struct logparse *p, cJSON *figs);

static const struct logparse_kind NONE = {NULL, NULL, NULL, 0};

int logparse_new(const struct logparse_kind *kind, const char *id, struct logparse **out,
		 struct kiln_err *err)
{
	struct logparse *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	p->kind = kind != NULL ? kind : &NONE;
	snprintf(p->id, sizeof(p->id), "%s", id && id[0] ? id : "none");
	*out = p;
	return 0;
}

int logparse_line(struct logparse *p, const char *line, size_t len, cJSON *figs)
{
	if (p == NULL || p->kind->line == NULL)
		return 0;
	/* Lines are bounded by the executor; a copy with a NUL lets the
	 * matchers use the string functions. */
	char buf[4096];
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	return p->kind->line(p, buf, len, figs);
}

int logparse_end(struct logparse *p, cJSON *figs)
{
	if (p == NULL || p->kind->end == NULL)
		return 0;
	return p->kind->end(p, figs);
}

void logparse_free(struct logparse *p)
{
	if (p)
		cJSON_Delete(p->p2.layers);
	free(p);
}

/* --- progress bars ----------------------------------------------------------- */

/* One row per progress bar a tool prints, in the order it prints them:
 * the bar's label and the share [lo, hi] of the step it stands for.  A
 * label is matched anywhere before the bar (loggers prefix dates).
 * Longer labels come before their prefixes ("build op serially" before
 * "build op").
 *
 * pulsar2 build: the bars of a whole build, from AXERA-TECH/pulsar2-docs-en
 *   source/user_guides_quick/quick_start_ax650.rst @ 2deee01f407c8859decacbdb37dd68280c796e48
 *   ("Stastic Inf tensor:  0%|…| 0/1", "Calibration Progress(Phase 1):   3%|▎ | 1/32 [00:00<00:03,  9.10it/s]",
 *   "Building native ━━━ 100% 0:00:00", "tiling op...   ━━━ 68/68 0:00:00", … "build jobs   ━━━ 921/921 0:00:00").
 * tpu-mlir run_calibration: tqdm bars of sophgo/tpu-mlir python/calibration/kld_calibrator.py:
 *   @ 514788851f91ddbfd0fc4411aeef75b19f2fee2e "activation_collect_and_calc_th for sample: {idx}"
 *   (one step per calibration image) then "[{bins}] threshold: {tensor}" (find_threshold);
 *   @ 0b6cb3413581ca2ff244407182e7d1573c1fcff1 (older) "inference and find Min Max *{file}",
 *   "calc_thresholds: {file}", "[{bins}] threshold: {op}", and SimpleTuner's "tune op: {op}". */
static const struct bar_stage P2_STAGES[] = {
	{"Stastic Inf tensor", 0.00, 0.05},
	{"Calibration Progress(Phase 1)", 0.05, 0.45},
	{"Building native", 0.45, 0.50},
	{"tiling op", 0.50, 0.55},
	{"build op serially", 0.55, 0.62},
	{"build op", 0.62, 0.70},
	{"add ddr swap", 0.70, 0.75},
	{"calc input dependencies", 0.75, 0.80},
	{"calc output dependencies", 0.80, 0.85},
	{"assign eu heuristic", 0.85, 0.88},
	{"assign eu onepass", 0.88, 0.91},
	{"assign eu greedy", 0.91, 0.94},
	{"build jobs", 0.94, 0.99},
};

static const struct bar_stage TPU_STAGES[] = {
	{"activation_collect_and_calc_th for", 0.00, 0.80},
	{"inference and find Min Max", 0.00, 0.40},
	{"calc_thresholds:", 0.40, 0.70},
	{"] threshold:", 0.80, 0.90},
	{"tune op:", 0.90, 1.00},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The parsers the toolchain rows name (logparse.h). */
const struct logparse_kind logparse_tpu_mlir = {tpu_line, tpu_end, TPU_STAGES, N_OF(TPU_STAGES)};
const struct logparse_kind logparse_pulsar = {pulsar_line, NULL, NULL, 0};
const struct logparse_kind logparse_pulsar2 = {p2_line, p2_end, P2_STAGES, N_OF(P2_STAGES)};

/* "n/N" (then a blank, '[' or the end) or "NN%" at s, after blanks: the
 * fraction, or -1. */
static double bar_number(const char *s, const char *end)
{
	while (s < end && *s == ' ')
		s++;
	const char *d = s;
	long n = 0, total = 0;
	while (s < end && isdigit((unsigned char)*s) && s - d < 9)
		n = n * 10 + (*s++ - '0');
	if (s == d || s >= end)
		return -1;
	if (*s == '%')
		return n <= 100 ? (double)n / 100.0 : -1;
	if (*s++ != '/')
		return -1;
	const char *t = s;
	while (s < end && isdigit((unsigned char)*s) && s - t < 9)
		total = total * 10 + (*s++ - '0');
	if (s == t || total <= 0 || n > total || (s < end && *s != ' ' && *s != '['))
		return -1;
	return (double)n / (double)total;
}

/* The fraction a bar line shows, looking only after its label: tqdm's
 * "NN%|bar| n/N", or rich's last '━' followed by " n/N" or " NN%". */
static double bar_fraction(const char *s, const char *end)
{
	const char *pct = memmem(s, (size_t)(end - s), "%|", 2);
	if (pct) {
		const char *bar_end = memchr(pct + 2, '|', (size_t)(end - pct - 2));
		if (bar_end)
			return bar_number(bar_end + 1, end);
	}
	static const char RICH[] = "\xe2\x94\x81";  /* U+2501 ━ */
	const char *last = NULL;
	for (const char *q = s; (q = memmem(q, (size_t)(end - q), RICH, 3)) != NULL; q += 3)
		last = q;
	return last ? bar_number(last + 3, end) : -1;
}

int logparse_progress(struct logparse *p, const char *line, size_t len, double *frac)
{
	if (p == NULL)
		return 0;
	const char *end = line + len;
	for (size_t i = 0; i < p->kind->n_stages; i++) {
		const struct bar_stage *st = &p->kind->stages[i];
		const char *at = memmem(line, len, st->label, strlen(st->label));
		if (at == NULL)
			continue;
		double r = bar_fraction(at + strlen(st->label), end);
		if (r < 0)
			return 0;
		double f = st->lo + (st->hi - st->lo) * r;
		if (f < p->progress + LOGPARSE_PROGRESS_STEP && !(r >= 1.0 && f > p->progress))
			return 0;
		p->progress = f;
		*frac = f;
		return 1;
	}
	return 0;
}

/* --- shared helpers --------------------------------------------------------- */

static void copy_trimmed(char *dst, size_t cap, const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* The number after `key` and an optional '=' or ':' separator. */
static int number_after(const char *line, const char *key, double *out)
{
	const char *k = strstr(line, key);
	if (k == NULL)
		return 0;
	const char *s = k + strlen(key);
	while (*s == ' ' || *s == '\t' || *s == '=' || *s == ':')
		s++;
	char *end;
	double v = strtod(s, &end);
	if (end == s)
		return 0;
	*out = v;
	return 1;
}

/* kind: "output" (one model output), "summary" (a tool's roll-up line),
 * "model" (run_qtable's whole-model figure) or "layers" (a per-layer
 * table). */
static cJSON *new_figure(struct logparse *p, const char *kind, const char *output)
{
	cJSON *f = cJSON_CreateObject();
	if (f == NULL)
		return NULL;
	cJSON_AddStringToObject(f, "parser", p->id);
	cJSON_AddStringToObject(f, "kind", kind);
	cJSON_AddStringToObject(f, "output", output);
	return f;
}

/* Figures are rounded to what a reader can use: the tools print cosines
 * with 4-6 decimals but the summary lines in full float precision
 * ("sqnr 55.91374626151228").  Six decimals keep a cosine's 0.99999x
 * distinctions; dB figures get two.  cJSON prints inf and nan as null,
 * which is what a reader should see for "sqnr = inf" (identical tensors). */
static double round_to(double v, int decimals)
{
	if (v != v || v > 1e15 || v < -1e15)
		return v;
	double m = 1;
	for (int i = 0; i < decimals; i++)
		m *= 10;
	double r = v * m;
	r = r < 0 ? -(double)(long long)(-r + 0.5) : (double)(long long)(r + 0.5);
	return r / m;
}

static const struct {
	const char *key;
	int decimals;
} ROUNDING[] = {
	{"cosine", 6}, {"euclidean", 6}, {"min_cosine", 6}, {"sqnr", 2},
	{"relative_error", 6}, {"mse", 6},
};

static void add_number(cJSON *f, const char *key, double v)
{
	for (size_t i = 0; i < sizeof(ROUNDING) / sizeof(ROUNDING[0]); i++)
		if (strcmp(ROUNDING[i].key, key) == 0)
			v = round_to(v, ROUNDING[i].decimals);
	cJSON_AddNumberToObject(f, key, v);
}

/* --- tpu-mlir: npz_tool compare and run_qtable ------------------------------ */

static const char *const TPU_STATUSES[] = {
	"EQUAL", "CLOSE", "SIMILAR", "NOT_SIMLIAR", "NOT_SIMILAR", "NOT_EQUAL",
	"NOT_MATCH", NULL,
};

static int tpu_flush(struct logparse *p, cJSON *figs)
{
	struct pending_tpu *t = &p->tpu;
	if (!t->active)
		return 0;
	t->active = 0;
	if (!t->have_cos)  /* a header with no numbers is not worth a figure */
		return 0;
	cJSON *f = new_figure(p, "output", t->output);
	if (f == NULL)
		return 0;
	if (t->compare[0])
		cJSON_AddStringToObject(f, "compare", t->compare);
	cJSON_AddStringToObject(f, "status", t->status);
	if (t->passed >= 0)
		cJSON_AddBoolToObject(f, "passed", t->passed);
	add_number(f, "cosine", t->cos);
	if (t->have_euc)
		add_number(f, "euclidean", t->euc);
	if (t->have_sqnr)
		add_number(f, "sqnr", t->sqnr);
	cJSON_AddItemToArray(figs, f);
	return 1;
}

/* "[name   ]      SIMILAR [PASSED]" → starts a pending figure. */
static int tpu_header(struct logparse *p, const char *line)
{
	const char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '[')
		return 0;
	const char *close = strchr(s + 1, ']');
	if (close == NULL)
		return 0;
	const char *w = close + 1;
	while (*w == ' ' || *w == '\t')
		w++;
	size_t wl = strcspn(w, " \t[");
	const char *status = NULL;
	for (int i = 0; TPU_STATUSES[i]; i++)
		if (strlen(TPU_STATUSES[i]) == wl && strncmp(w, TPU_STATUSES[i], wl) == 0)
			status = TPU_STATUSES[i];
	if (status == NULL)
		return 0;
	struct pending_tpu *t = &p->tpu;
	char compare[NAME_MAX_LEN];
	snprintf(compare, sizeof(compare), "%s", t->compare);
	memset(t, 0, sizeof(*t));
	snprintf(t->compare, sizeof(t->compare), "%s", compare);
	t->active = 1;
	copy_trimmed(t->output, sizeof(t->output), s + 1, (size_t)(close - s - 1));
	snprintf(t->status, sizeof(t->status), "%s", status);
	t->passed = strstr(w, "[PASSED]") ? 1 : strstr(w, "[FAILED]") ? 0 : -1;
	return 1;
}

/* What an npz file of model_transform/model_deploy holds, by its name's
 * end (<name>_ref_outputs.npz, <name>_top_outputs.npz,
 * <name>_<chip>_<quant>_tpu_outputs.npz, ..._model_outputs.npz; see
 * ../shared/reference/tpu-mlir.md §1, §3, §4). */
static const struct {
	const char *suffix, *label;
} NPZ_KINDS[] = {
	{"_ref_outputs.npz", "onnx"},
	{"_top_outputs.npz", "top"},
	{"_tpu_outputs.npz", "tpu"},
	{"_model_outputs.npz", "model"},
};

static const char *npz_kind(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(NPZ_KINDS) / sizeof(NPZ_KINDS[0]); i++) {
		size_t l = strlen(NPZ_KINDS[i].suffix);
		if (n >= l && strncmp(s + n - l, NPZ_KINDS[i].suffix, l) == 0)
			return NPZ_KINDS[i].label;
	}
	return NULL;
}

/* "[Running]: npz_tool.py compare A.npz B.npz --tolerance ..." names the
 * two sides of the blocks that follow: "tpu vs top" etc. */
static void tpu_compare_line(struct logparse *p, const char *c)
{
	const char *a = c + strlen("npz_tool.py compare ");
	size_t al = strcspn(a, " \t");
	const char *b = a + al;
	while (*b == ' ' || *b == '\t')
		b++;
	size_t bl = strcspn(b, " \t");
	const char *ka = npz_kind(a, al), *kb = npz_kind(b, bl);
	if (ka && kb)
		snprintf(p->tpu.compare, sizeof(p->tpu.compare), "%s vs %s", ka, kb);
	else
		p->tpu.compare[0] = '\0';
}

static int tpu_line(struct logparse *p, const char *line, size_t len, cJSON *figs)
{
	(void)len;
	struct pending_tpu *t = &p->tpu;
	int n = 0;
	double v;
	const char *cmp = strstr(line, "npz_tool.py compare ");
	if (cmp != NULL) {
		n += tpu_flush(p, figs);
		tpu_compare_line(p, cmp);
		return n;
	}
	if (strchr(line, '[') && strchr(line, ']')) {
		struct pending_tpu saved = *t;
		if (tpu_header(p, line)) {
			/* a new block ends the previous one */
			struct pending_tpu fresh = *t;
			*t = saved;
			n += tpu_flush(p, figs);
			*t = fresh;
			return n;
		}
	}
	if (t->active && number_after(line, "cosine_similarity", &v)) {
		t->cos = v;
		t->have_cos = 1;
		return 0;
	}
	if (t->active && number_after(line, "euclidean_similarity", &v)) {
		t->euc = v;
		t->have_euc = 1;
		return 0;
	}
	if (t->active && number_after(line, "sqnr_similarity", &v)) {
		t->sqnr = v;
		t->have_sqnr = 1;
		return tpu_flush(p, figs);  /* the last line of a block */
	}
	/* "min_similiarity = (0.759, -0.61, -16.1)"; the tool misspells it */
	const char *m = strstr(line, "min_similiarity");
	if (m == NULL)
		m = strstr(line, "min_similarity");
	if (m != NULL) {
		n += tpu_flush(p, figs);
		const char *paren = strchr(m, '(');
		double c, e, q;
		if (paren && sscanf(paren, "(%lf , %lf , %lf", &c, &e, &q) == 3) {
			cJSON *f = new_figure(p, "summary", "min");
			if (f) {
				if (p->tpu.compare[0])
					cJSON_AddStringToObject(f, "compare", p->tpu.compare);
				add_number(f, "cosine", c);
				add_number(f, "euclidean", e);
				add_number(f, "sqnr", q);
				cJSON_AddItemToArray(figs, f);
				n++;
			}
		}
		return n;
	}
	/* run_qtable: "int8 outputs_cos:0.999317", "mix model outputs_cos:0.99" */
	const char *oc = strstr(line, "outputs_cos:");
	if (oc != NULL && number_after(oc, "outputs_cos", &v)) {
		n += tpu_flush(p, figs);
		char label[NAME_MAX_LEN + 16];
		const char *start = line;
		while (*start == ' ' || *start == '\t')
			start++;
		char tmp[NAME_MAX_LEN];
		copy_trimmed(tmp, sizeof(tmp), start, (size_t)(oc - start));
		snprintf(label, sizeof(label), "%s outputs", tmp);
		cJSON *f = new_figure(p, "model", label);
		if (f) {
			add_number(f, "cosine", v);
			cJSON_AddItemToArray(figs, f);
			n++;
		}
	}
	return n;
}

static int tpu_end(struct logparse *p, cJSON *figs)
{
	return tpu_flush(p, figs);
}

/* --- legacy pulsar: "Layer: out  2-norm RE: 4.70%  cosine-sim: 0.9989" ------ */

static int pulsar_line(struct logparse *p, const char *line, size_t len, cJSON *figs)
{
	(void)len;
	const char *l = strstr(line, "Layer:");
	double cos;
	if (l == NULL || !number_after(line, "cosine-sim", &cos))
		return 0;
	const char *s = l + strlen("Layer:");
	while (*s == ' ' || *s == '\t')
		s++;
	char name[NAME_MAX_LEN];
	copy_trimmed(name, sizeof(name), s, strcspn(s, " \t"));
	cJSON *f = new_figure(p, "output", name);
	if (f == NULL)
		return 0;
	add_number(f, "cosine", cos);
	double re;
	if (number_after(line, "2-norm RE", &re))
		add_number(f, "relative_error", re / 100.0);
	cJSON_AddItemToArray(figs, f);
	return 1;
}

/* --- pulsar2: "Quant Precision Table【PerLayer Reference】" ---------------- */

/* Splits a table row on '|', '│', '┃' or '║'; returns the cell count, or -1
 * when the line has no separator at all. */
static int split_cells(const char *line, char cells[][NAME_MAX_LEN], int max)
{
	int n = 0, seps = 0;
	const char *cell = line;
	const char *s = line;
	for (;;) {
		size_t sep = 0;
		unsigned char c = (unsigned char)*s;
		if (c == '|')
			sep = 1;
		else if (c == 0xE2 && (unsigned char)s[1] == 0x94 &&
			 ((unsigned char)s[2] == 0x82 || (unsigned char)s[2] == 0x83))
			sep = 3;
		else if (c == 0xE2 && (unsigned char)s[1] == 0x95 && (unsigned char)s[2] == 0x91)
			sep = 3;
		if (sep || c == '\0') {
			if (sep)
				seps++;
			if (n < max)
				copy_trimmed(cells[n], NAME_MAX_LEN, cell, (size_t)(s - cell));
			n++;
			if (c == '\0')
				break;
			s += sep;
			cell = s;
			continue;
		}
		s++;
	}
	if (seps == 0)
		return -1;
	/* Leading and trailing borders give empty first and last cells. */
	int first = 0, last = (n < max ? n : max) - 1;
	if (last >= 0 && cells[last][0] == '\0')
		last--;
	if (cells[0][0] == '\0')
		first = 1;
	int k = 0;
	for (int i = first; i <= last; i++, k++)
		if (k != i)
			memcpy(cells[k], cells[i], NAME_MAX_LEN);
	return k;
}

static int ci_equal_prefix(const char *cell, const char *word)
{
	return strncasecmp(cell, word, strlen(word)) == 0;
}

/* The table is per layer and does not mark the model's outputs: one
 * "layers" figure carries every row, and the job's results pick the rows
 * whose Output Tensor is one of the spec's outputs (runtime/results.c).
 * Titling one figure with the last row, as before, mislabelled every
 * multi-output model. */
#define P2_MAX_LAYERS 5000   /* rows read from one table */
/* Rows kept in the figure: the job's figures must stay well under
 * JOBS_MAX_FIGURES_BYTES (256 KiB) with two builds, so a big model keeps its
 * worst rows and its last ones (the model outputs end the table). */
#define P2_KEEP_WORST 360
#define P2_KEEP_LAST 40

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double row_cos(const cJSON *r)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "cosine");
	return cJSON_IsNumber(c) ? c->valuedouble : 2;
}

static void p2_trim(cJSON *layers)
{
	int n = cJSON_GetArraySize(layers);
	if (n <= P2_KEEP_WORST + P2_KEEP_LAST)
		return;
	double *c = malloc(sizeof(double) * (size_t)n);
	if (c == NULL)
		return;
	int i = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, layers)
		c[i++] = row_cos(r);
	qsort(c, (size_t)n, sizeof(double), cmp_double);
	double limit = c[P2_KEEP_WORST - 1];
	free(c);
	int kept_worst = 0;
	i = 0;
	cJSON *x = layers->child;
	while (x) {
		cJSON *next = x->next;
		double v = row_cos(x);
		if (i >= n - P2_KEEP_LAST)
			;  /* the tail stays */
		else if (v <= limit && kept_worst < P2_KEEP_WORST)
			kept_worst++;
		else
			cJSON_Delete(cJSON_DetachItemViaPointer(layers, x));
		x = next;
		i++;
	}
}

static int p2_flush(struct logparse *p, cJSON *figs)
{
	struct pending_p2 *t = &p->p2;
	int had = t->rows;
	cJSON *layers = t->layers;
	char title[NAME_MAX_LEN], min_layer[NAME_MAX_LEN];
	snprintf(title, sizeof(title), "%s", t->title);
	snprintf(min_layer, sizeof(min_layer), "%s", t->min_layer);
	double min_cos = t->min_cos;
	memset(t, 0, sizeof(*t));
	if (!had || layers == NULL) {
		cJSON_Delete(layers);
		return 0;
	}
	cJSON *f = new_figure(p, "layers", "");
	if (f == NULL) {
		cJSON_Delete(layers);
		return 0;
	}
	p2_trim(layers);
	if (title[0])
		cJSON_AddStringToObject(f, "table", title);
	cJSON_AddNumberToObject(f, "count", had);  /* rows in the table, kept or not */
	add_number(f, "min_cosine", min_cos);
	cJSON_AddStringToObject(f, "min_layer", min_layer);
	cJSON_AddItemToObject(f, "layers", layers);
	cJSON_AddItemToArray(figs, f);
	return 1;
}

/* pulsar2's compiler check (--compiler.check, the build's simulation of the
 * compiled graph against its quantized reference) logs one line per checked
 * tensor through loguru, e.g. (AXERA-TECH/pulsar2-docs @ b32f7c1d and
 * pulsar2-docs-en @ 83fa86a4, source/user_guides_advanced/
 * advanced_build_guides.md):
 *   2024-12-10 14:38:32.352 | SUCCESS  | yamain.common.util:check_data:206 -
 *   check npu graph [subgraph_npu_1_b1] [op_5:AxQuantizedConv_out],
 *   (1, 56, 56, 144), uint8 successfully!
 * The docs show only the passing line.  Any other check_data line about a
 * tensor (another level, no "successfully") is the check failing on it: a
 * failed figure, so a build that then exits non-zero fails as
 * below_tolerance, as TPU-MLIR's --tolerance does, not as step_failed. */
static int p2_check_line(struct logparse *p, const char *line, cJSON *figs)
{
	const char *src = strstr(line, ":check_data:");
	const char *msg = src ? strstr(src, " - check npu graph [") : NULL;
	if (msg == NULL)
		return -1;
	const char *bar = strchr(line, '|');
	const char *bar2 = bar ? strchr(bar + 1, '|') : NULL;
	char level[32] = "";
	if (bar && bar2 && bar2 < src)
		copy_trimmed(level, sizeof(level), bar + 1, (size_t)(bar2 - bar - 1));
	if (strcmp(level, "SUCCESS") == 0 && strstr(msg, "successfully") != NULL)
		return 0;
	/* "[graph] [tensor]": the second bracket names the tensor */
	const char *g = strchr(msg + 3, ']');
	const char *o = g ? strstr(g, " [") : NULL;
	const char *c = o ? strchr(o + 2, ']') : NULL;
	char tensor[NAME_MAX_LEN] = "";
	if (o && c)
		copy_trimmed(tensor, sizeof(tensor), o + 2, (size_t)(c - o - 2));
	cJSON *f = new_figure(p, "output", tensor[0] ? tensor : "?");
	if (f == NULL)
		return 0;
	cJSON_AddStringToObject(f, "compare", "compiler check");
	cJSON_AddBoolToObject(f, "passed", 0);
	cJSON_AddItemToArray(figs, f);
	return 1;
}

static int p2_line(struct logparse *p, const char *line, size_t len, cJSON *figs)
{
	(void)len;
	struct pending_p2 *t = &p->p2;
	if (strstr(line, ":check_data:") != NULL) {
		int n = t->in_table ? p2_flush(p, figs) : 0;
		int k = p2_check_line(p, line, figs);
		if (k >= 0)
			return n + k;
	}
	const char *title = strstr(line, "Quant Precision Table");
	if (title) {
		int n = p2_flush(p, figs);
		t->in_table = 1;
		t->col_out = t->col_cos = t->col_mse = t->col_op = -1;
		/* "Quant Precision Table【PerLayer Reference】": the part in the
		 * brackets (U+3010, U+3011) says what was compared */
		const char *o = strstr(title, "\xe3\x80\x90");
		const char *c = o ? strstr(o, "\xe3\x80\x91") : NULL;
		if (o && c)
			copy_trimmed(t->title, sizeof(t->title), o + 3, (size_t)(c - o - 3));
		return n;
	}
	if (!t->in_table)
		return 0;
	char cells[MAX_CELLS][NAME_MAX_LEN];
	int nc = split_cells(line, cells, MAX_CELLS);
	if (nc < 0) {
		/* Borders (━━━, ───, +---+) carry no separator cells of text;
		 * any other line ends the table once it has rows. */
		int border = 1;
		for (const char *s = line; *s; s++)
			if (isalnum((unsigned char)*s))
				border = 0;
		if (border || t->rows == 0)
			return 0;
		return p2_flush(p, figs);
	}
	if (nc > MAX_CELLS)
		return 0;
	if (t->col_cos < 0) {
		for (int i = 0; i < nc; i++) {
			if (ci_equal_prefix(cells[i], "Cosin"))
				t->col_cos = i;
			else if (ci_equal_prefix(cells[i], "MSE"))
				t->col_mse = i;
			else if (ci_equal_prefix(cells[i], "Output Tensor"))
				t->col_out = i;
			else if (ci_equal_prefix(cells[i], "Operator"))
				t->col_op = i;
		}
		t->n_cols = nc;
		return 0;
	}
	if (t->col_cos >= nc)
		return 0;
	char *end;
	double cos = strtod(cells[t->col_cos], &end);
	if (end == cells[t->col_cos])
		return 0;
	const char *op = t->col_op >= 0 && t->col_op < nc ? cells[t->col_op] : "";
	const char *name = t->col_out >= 0 && t->col_out < nc ? cells[t->col_out] : op;
	if (t->layers == NULL && (t->layers = cJSON_CreateArray()) == NULL)
		return 0;
	if (t->rows < P2_MAX_LAYERS) {
		cJSON *r = cJSON_CreateObject();
		if (r) {
			cJSON_AddStringToObject(r, "layer", op);
			cJSON_AddStringToObject(r, "output", name);
			add_number(r, "cosine", cos);
			if (t->col_mse >= 0 && t->col_mse < nc) {
				double mse = strtod(cells[t->col_mse], &end);
				if (end != cells[t->col_mse])
					add_number(r, "mse", mse);
			}
			cJSON_AddItemToArray(t->layers, r);
		}
	}
	if (t->rows == 0 || cos < t->min_cos) {
		t->min_cos = cos;
		snprintf(t->min_layer, sizeof(t->min_layer), "%s", op[0] ? op : name);
	}
	t->rows++;
	return 0;
}

static int p2_end(struct logparse *p, cJSON *figs)
{
	return p2_flush(p, figs);
}
