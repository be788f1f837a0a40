/*
 * advice: what to try next when a job's figures are poor, read from the
 * figures themselves (runtime/results.h) and offered only as changes the
 * job's target really takes (the board table, targets.h).
 *
 * The figures say which kind of failure it is:
 *   float       the float model already differs from the ONNX: not a
 *               quantization problem (wrong outputs or an op the tool
 *               converts wrongly), so no quantization change is offered;
 *   everywhere  every quantized output is far off (or the first layers of a
 *               per-layer table already are): the input the model sees is
 *               wrong — mean/scale or pixel format;
 *   head        some outputs (or only the last layers) fall below the
 *               tolerance: quantization loses too much at the head — mixed
 *               precision (reCamera's qtable), BF16, another calibration
 *               method (MinMax → Percentile/MSE on Pulsar2), more or better
 *               calibration images, or cutting the model earlier.
 *
 * API
 *   advice_build(job, dataset_images)   new object or NULL (nothing to
 *     advise, or out of memory): {"kind", "why", "suggestions": [{"id",
 *     "text", "change": {partial job spec} (only where one click can do
 *     it), "link": dashboard path (optional)}]}.  job is the job's JSON
 *     (jobs.h: "target", "model", "spec", "results", "error");
 *     dataset_images is the set's size (0 = unknown).
 *
 * Pure: reads only its arguments and the static board table.
 */
#ifndef KILN_ADVICE_H
#define KILN_ADVICE_H

#include <cjson/cJSON.h>

/* Below this worst cosine on every output, quantization alone does not
 * explain it: a model fed the wrong input (channels swapped, unscaled) is
 * wrong from its first layer on, so every output is far off, while a head
 * that loses precision leaves the figures near the tolerance. */
#define ADVICE_EVERYWHERE_COS 0.8

/* Returns a new object (caller cJSON_Delete()s) or NULL. */
cJSON *advice_build(const cJSON *job, long long dataset_images);

#endif
