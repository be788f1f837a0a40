/*
 * logparse: turns a step's log lines into figures (similarity numbers), so
 * the dashboard shows "cosine 0.998" and not only a wall of text.
 *
 * API
 *   logparse_new(kind, id, &p, err)    per-step parser state; logparse_free(p)
 *                                      (toolchain_logparse_new finds kind by id)
 *   logparse_line(p, line, len, figs)  feed one line (no newline); appends
 *                                      finished figure objects to figs
 *   logparse_end(p, figs)              end of output: flushes a pending figure
 *
 * Parsers (each a toolchain row's `log`, runtime/toolchain.c; the line
 * shapes are logparse.c's):
 *   none      nothing
 *   tpu-mlir  npz_tool compare blocks ("[out]  SIMILAR [PASSED]" then the
 *             cosine/euclidean/sqnr lines) → {"kind":"output","output",
 *             "compare","status","passed","cosine","euclidean","sqnr"};
 *             "compare" ("tpu vs top", "model vs tpu", "top vs onnx") comes
 *             from the "[Running]: npz_tool.py compare A B" line before the
 *             blocks; its "min_similiarity = (c, e, s)" summary →
 *             {"kind":"summary","output":"min",...}; run_qtable's
 *             "int8 outputs_cos:0.99" → {"kind":"model","output":"int8 outputs"}
 *   pulsar    "Layer: out  2-norm RE: 4.70%  cosine-sim: 0.9989" →
 *             {"kind":"output","output","cosine","relative_error"}
 *   pulsar2   the "Quant Precision Table" (Cosin, MSE columns): one figure
 *             at the end of the table, {"kind":"layers","table","count",
 *             "min_cosine","min_layer","layers":[{layer,output,cosine,mse}]};
 *             the table does not say which rows are model outputs, so the
 *             job's results (results.h) pick them by the spec's outputs
 * Numbers are rounded (cosines 6 decimals, dB 2).
 * Every figure also carries "parser": id.  Figures are built for display;
 * unparsable lines are ignored, never an error.  Not thread-safe per parser
 * (one step, one thread).  Knows nothing of jobs, events or HTTP.
 */
#ifndef KILN_LOGPARSE_H
#define KILN_LOGPARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"

#define LOGPARSE_ID_MAX 32

struct logparse;

/* The parsers, named by the toolchain rows (runtime/toolchain.c: a row's
 * `log`, and its `parser` id is what a plan step's "parser" says).  Opaque
 * here: their line shapes and progress bars are logparse.c's tables. */
struct logparse_kind;
extern const struct logparse_kind logparse_tpu_mlir;
extern const struct logparse_kind logparse_pulsar;
extern const struct logparse_kind logparse_pulsar2;

/* New parser state for one step of the parser kind (NULL: "none", which
 * parses nothing), reported as id in its figures; caller frees with
 * logparse_free().  The kinds are named by id in the toolchain rows:
 * toolchain_logparse_new (runtime/toolchain.h) looks one up, so this file
 * does not depend on the table that depends on it. */
int logparse_new(const struct logparse_kind *kind, const char *id, struct logparse **out,
		 struct kiln_err *err);

/* Feeds one line; appends finished figures (new cJSON objects owned by figs)
 * to the cJSON array figs.  Returns the number appended (>= 0). */
int logparse_line(struct logparse *p, const char *line, size_t len, cJSON *figs);

/* Flushes whatever figure is pending at the end of the output; returns the
 * number appended. */
int logparse_end(struct logparse *p, cJSON *figs);

/* Accepts NULL. */
/* A tool's own progress bar (tqdm's "desc: 40%|████  | 4/10 [..." or
 * rich's "label ━━━━ 68/68 0:00:00" / "label ━━━━ 100% 0:00:00") read as
 * the step's fraction done: *frac in [0, 1], rising, and 1 is returned
 * when the line moves it on by at least LOGPARSE_PROGRESS_STEP (or to the
 * end of a stage); 0 for any other line.  Which bars count, and what
 * share of the step each one is, is a table per parser in logparse.c
 * (the bars' labels are the vendors'; the shares are Kiln's estimate). */
#define LOGPARSE_PROGRESS_STEP 0.01
int logparse_progress(struct logparse *p, const char *line, size_t len, double *frac);

void logparse_free(struct logparse *p);

#endif
