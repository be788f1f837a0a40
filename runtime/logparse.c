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
	char last_out[NAME_MAX_LEN];
	double last_cos, last_mse;
	int last_has_mse;
	char min_layer[NAME_MAX_LEN];
	double min_cos;
};

struct logparse {
	const struct parser *kind;
	struct pending_tpu tpu;
	struct pending_p2 p2;
};

typedef int (*line_fn)(struct logparse *p, const char *line, size_t len, cJSON *figs);
typedef int (*end_fn)(struct logparse *p, cJSON *figs);

struct parser {
	const char *id;
	line_fn line;
	end_fn end;
};

static int tpu_line(struct logparse *p, const char *line, size_t len, cJSON *figs);
static int tpu_end(struct logparse *p, cJSON *figs);
static int pulsar_line(struct logparse *p, const char *line, size_t len, cJSON *figs);
static int p2_line(struct logparse *p, const char *line, size_t len, cJSON *figs);
static int p2_end(struct logparse *p, cJSON *figs);

static const struct parser PARSERS[] = {
	{"none", NULL, NULL},
	{"tpu-mlir", tpu_line, tpu_end},
	{"pulsar", pulsar_line, NULL},
	{"pulsar2", p2_line, p2_end},
};
#define N_PARSERS (sizeof(PARSERS) / sizeof(PARSERS[0]))

static const char *const IDS[] = {"none", "tpu-mlir", "pulsar", "pulsar2", NULL};

static const struct parser *find(const char *id)
{
	if (id == NULL || id[0] == '\0')
		return &PARSERS[0];
	for (size_t i = 0; i < N_PARSERS; i++)
		if (strcmp(PARSERS[i].id, id) == 0)
			return &PARSERS[i];
	return NULL;
}

int logparse_known(const char *id)
{
	return find(id) != NULL;
}

const char *const *logparse_ids(void)
{
	return IDS;
}

int logparse_new(const char *id, struct logparse **out, struct kiln_err *err)
{
	const struct parser *k = find(id);
	if (k == NULL)
		return kiln_errf(err, KILN_EINVAL, "parser",
				 "unknown log parser '%.40s': use none, tpu-mlir, pulsar or pulsar2",
				 id);
	struct logparse *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	p->kind = k;
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
	free(p);
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

static cJSON *new_figure(struct logparse *p, const char *output)
{
	cJSON *f = cJSON_CreateObject();
	if (f == NULL)
		return NULL;
	cJSON_AddStringToObject(f, "parser", p->kind->id);
	cJSON_AddStringToObject(f, "output", output);
	return f;
}

/* cJSON prints inf and nan as null, which is what a reader of the figure
 * should see for "sqnr = inf" (identical tensors). */
static void add_number(cJSON *f, const char *key, double v)
{
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
	cJSON *f = new_figure(p, t->output);
	if (f == NULL)
		return 0;
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
	memset(t, 0, sizeof(*t));
	t->active = 1;
	copy_trimmed(t->output, sizeof(t->output), s + 1, (size_t)(close - s - 1));
	snprintf(t->status, sizeof(t->status), "%s", status);
	t->passed = strstr(w, "[PASSED]") ? 1 : strstr(w, "[FAILED]") ? 0 : -1;
	return 1;
}

static int tpu_line(struct logparse *p, const char *line, size_t len, cJSON *figs)
{
	(void)len;
	struct pending_tpu *t = &p->tpu;
	int n = 0;
	double v;
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
			cJSON *f = new_figure(p, "min");
			if (f) {
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
		cJSON *f = new_figure(p, label);
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
	cJSON *f = new_figure(p, name);
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

static int p2_flush(struct logparse *p, cJSON *figs)
{
	struct pending_p2 *t = &p->p2;
	int had = t->rows;
	char out[NAME_MAX_LEN], min_layer[NAME_MAX_LEN];
	snprintf(out, sizeof(out), "%s", t->last_out);
	snprintf(min_layer, sizeof(min_layer), "%s", t->min_layer);
	double cos = t->last_cos, mse = t->last_mse, min_cos = t->min_cos;
	int has_mse = t->last_has_mse;
	memset(t, 0, sizeof(*t));
	if (!had)
		return 0;
	cJSON *f = new_figure(p, out);
	if (f == NULL)
		return 0;
	add_number(f, "cosine", cos);
	if (has_mse)
		add_number(f, "mse", mse);
	cJSON_AddNumberToObject(f, "layers", had);
	add_number(f, "min_cosine", min_cos);
	cJSON_AddStringToObject(f, "min_layer", min_layer);
	cJSON_AddItemToArray(figs, f);
	return 1;
}

static int p2_line(struct logparse *p, const char *line, size_t len, cJSON *figs)
{
	(void)len;
	struct pending_p2 *t = &p->p2;
	if (strstr(line, "Quant Precision Table")) {
		int n = p2_flush(p, figs);
		t->in_table = 1;
		t->col_out = t->col_cos = t->col_mse = t->col_op = -1;
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
	const char *name = t->col_out >= 0 && t->col_out < nc ? cells[t->col_out] :
			   t->col_op >= 0 && t->col_op < nc ? cells[t->col_op] : "";
	snprintf(t->last_out, sizeof(t->last_out), "%s", name);
	t->last_cos = cos;
	t->last_has_mse = 0;
	if (t->col_mse >= 0 && t->col_mse < nc) {
		double mse = strtod(cells[t->col_mse], &end);
		if (end != cells[t->col_mse]) {
			t->last_mse = mse;
			t->last_has_mse = 1;
		}
	}
	if (t->rows == 0 || cos < t->min_cos) {
		t->min_cos = cos;
		snprintf(t->min_layer, sizeof(t->min_layer), "%s", name);
	}
	t->rows++;
	return 0;
}

static int p2_end(struct logparse *p, cJSON *figs)
{
	return p2_flush(p, figs);
}
