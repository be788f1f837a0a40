/*
 * recipe_maixcam: MaixCAM / MaixCAM-Pro, TPU-MLIR (seed 001): model_transform -> [BF16 model_deploy] -> run_calibration -> INT8 model_deploy --quant_input -> <name>_int8.cvimodel + <name>.mud.
 *
 * Also exports the model_transform and run_calibration steps, which
 * recipe_recamera shares:
 *   recipe_tpumlir_tool(s, base)   "model_transform" or "model_transform.py"
 *                                  (target option tool_names); static strings
 *   recipe_tpumlir_transform(c, out, channel_format, tolerance, err)
 *   recipe_tpumlir_calibrate(c, out, table, err)
 *
 * API
 *   recipe_maixcam_plan(ctx, out, err)   fills out->plan and out->files; called
 *                                     through recipe_plan() (recipe.h)
 */
#ifndef KILN_RECIPE_MAIXCAM_H
#define KILN_RECIPE_MAIXCAM_H

#include "conversion/recipe.h"

int recipe_maixcam_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);

const char *recipe_tpumlir_tool(const struct job_spec *s, const char *base);
/* Adds the "transform" step: channel_format = pass --channel_format (seed 001
 * always does; seed 002 only needs it for nhwc); tolerance = the
 * --tolerance text or NULL. */
int recipe_tpumlir_transform(const struct recipe_ctx *c, struct recipe_out *out,
			     int channel_format, const char *tolerance, struct kiln_err *err);
/* Adds the "calibrate" step: run_calibration over the images into table. */
int recipe_tpumlir_calibrate(const struct recipe_ctx *c, struct recipe_out *out, const char *table,
			     struct kiln_err *err);

#endif
