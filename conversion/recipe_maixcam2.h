/*
 * recipe_maixcam2: MaixCAM2, Pulsar2 AX620E (seed 000): config_npu.json / config_vnpu.json, two pulsar2 builds (NPU2, NPU1) -> <name>_npu.axmodel, <name>_vnpu.axmodel + <name>.mud with the cache flags.  The ONNX must already be cut at the outputs (recipe_needs_cut).
 *
 * API
 *   recipe_maixcam2_plan(ctx, out, err)   fills out->plan and out->files; called
 *                                     through recipe_plan() (recipe.h)
 */
#ifndef KILN_RECIPE_MAIXCAM2_H
#define KILN_RECIPE_MAIXCAM2_H

#include "conversion/recipe.h"

int recipe_maixcam2_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);

#endif
