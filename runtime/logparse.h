/*
 * logparse: turns a step's log lines into figures (similarity numbers), so
 * the dashboard shows "cosine 0.998" and not only a wall of text.
 *
 * API
 *   logparse_known(id)                 is id a parser? ("" and "none" are)
 *   logparse_new(id, &p, err)          per-step parser state; logparse_free(p)
 *   logparse_line(p, line, len, figs)  feed one line (no newline); appends
 *                                      finished figure objects to figs
 *   logparse_end(p, figs)              end of output: flushes a pending figure
 *   logparse_ids()                     NULL-terminated table of ids, for help
 *
 * Parsers (one table row each, see logparse.c):
 *   none      nothing
 *   tpu-mlir  npz_tool compare blocks ("[out]  SIMILAR [PASSED]" then the
 *             cosine/euclidean/sqnr lines) → {"output","status","passed",
 *             "cosine","euclidean","sqnr"}; its "min_similiarity = (c, e, s)"
 *             summary → {"output":"min", ...}; run_qtable's
 *             "int8 outputs_cos:0.99" → {"output":"int8 outputs","cosine"}
 *   pulsar    "Layer: out  2-norm RE: 4.70%  cosine-sim: 0.9989" →
 *             {"output","cosine","relative_error"}
 *   pulsar2   the "Quant Precision Table" (Cosin, MSE columns): one figure at
 *             the end of the table for its last row (the model output) with
 *             the table's worst layer: {"output","cosine","mse","layers",
 *             "min_cosine","min_layer"}
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

/* 1 when id names a parser ("" and "none" included), else 0. */
int logparse_known(const char *id);

/* The ids, NULL-terminated; static. */
const char *const *logparse_ids(void);

/* New parser state for one step; caller frees with logparse_free().  An
 * unknown id is KILN_EINVAL. */
int logparse_new(const char *id, struct logparse **out, struct kiln_err *err);

/* Feeds one line; appends finished figures (new cJSON objects owned by figs)
 * to the cJSON array figs.  Returns the number appended (>= 0). */
int logparse_line(struct logparse *p, const char *line, size_t len, cJSON *figs);

/* Flushes whatever figure is pending at the end of the output; returns the
 * number appended. */
int logparse_end(struct logparse *p, cJSON *figs);

/* Accepts NULL. */
void logparse_free(struct logparse *p);

#endif
