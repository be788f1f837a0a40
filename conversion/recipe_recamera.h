/*
 * recipe_recamera: reCamera, TPU-MLIR 1.7 (seed 002): model_transform -> run_calibration -> [run_qtable] -> model_deploy INT8 sym with fused preprocessing (or mixed precision with --quantize_table, or F16/BF16) -> cvimodel + <name>.mud.  Models above IR 8 / opset 17 are refused by spec_parse (target_ops limits).
 *
 * API
 *   recipe_recamera_plan(ctx, out, err)   fills out->plan and out->files; called
 *                                     through recipe_plan() (recipe.h)
 */
#ifndef KILN_RECIPE_RECAMERA_H
#define KILN_RECIPE_RECAMERA_H

#include "conversion/recipe.h"

int recipe_recamera_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);

#endif
