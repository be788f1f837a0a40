/*
 * results: the job's figures (logparse.h) turned into labelled rows a
 * person can read at a glance: which build of the plan (step, stage), which
 * model output, which metric, which value, the worst output named first.
 *
 * API
 *   results_build(figures, spec)   new object, owned by the caller:
 *     {"rows": [{"step","stage","compare","output","metric","value"}...],
 *      "outputs": [{"output","cosine","step","stage"}...]  worst first,
 *      "worst": the first of "outputs" or null,
 *      "layers": [{"step","stage","layer","output","cosine","mse"}...] worst
 *                first (the per-layer tables; at most RESULTS_MAX_LAYERS),
 *      "tolerance": the spec's, "compared_on": the spec's}
 *
 * Stages come from a table of the recipes' step names (transform → float,
 * deploy_int8 → int8, build_npu → int8 npu ...); a step the table does not
 * know is its own stage.  Pure: no I/O, no locks.
 */
#ifndef KILN_RESULTS_H
#define KILN_RESULTS_H

#include <cjson/cJSON.h>

#define RESULTS_MAX_LAYERS 200

/* figures: the job's figure array (may be NULL); spec: its canonical spec
 * object (may be NULL).  NULL only when out of memory. */
cJSON *results_build(const cJSON *figures, const cJSON *spec);

#endif
