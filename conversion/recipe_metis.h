/*
 * recipe_metis: Axelera Metis, Voyager SDK v1.2.5: network.yaml (installed as
 * ax_models/kiln/network.yaml) + labels.yaml, deploy.py -> build/<name>/<name>/
 * {model_info.json, <cores>/{model.json, manifest.json, compile_config.json}},
 * bundled at the same paths (SDK rules: tests/toolchain-double/SOURCES.md)
 *
 * API
 *   recipe_metis_plan(ctx, out, err)   fills out->plan and out->files; called
 *                                     through recipe_plan() (recipe.h)
 */
#ifndef KILN_RECIPE_METIS_H
#define KILN_RECIPE_METIS_H

#include "conversion/recipe.h"

int recipe_metis_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);
/* The spec checks the plan makes that need no files (task, labels,
 * anchors, --num-cal-images 2..2000 against the count the job will use),
 * for submit time: 0 or KILN_EINVAL naming the field. */
int recipe_metis_check(const struct job_spec *s, struct kiln_err *err);

#endif
