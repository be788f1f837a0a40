/*
 * recipe_metis: Axelera Metis, Voyager SDK (seed 004): <name>.yaml network description, deploy.py -> build/<name>/<name>/<cores>/{model.json, model.axmodel, manifest.json}, bundled as <name>/<cores>/...
 *
 * API
 *   recipe_metis_plan(ctx, out, err)   fills out->plan and out->files; called
 *                                     through recipe_plan() (recipe.h)
 */
#ifndef KILN_RECIPE_METIS_H
#define KILN_RECIPE_METIS_H

#include "recipe.h"

int recipe_metis_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);

#endif
