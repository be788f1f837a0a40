/*
 * recipe_axera_pi: AXera-Pi AX620A, legacy pulsar (seed 003): config_<name>.prototxt, pulsar build -> <name>.joint + out_config_<name>.prototxt, then pulsar run against the ONNX for the cosine figure.
 *
 * API
 *   recipe_axera_pi_plan(ctx, out, err)   fills out->plan and out->files; called
 *                                     through recipe_plan() (recipe.h)
 */
#ifndef KILN_RECIPE_AXERA_PI_H
#define KILN_RECIPE_AXERA_PI_H

#include "conversion/recipe.h"

int recipe_axera_pi_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);

#endif
