/*
 * calib_quality: warnings about the calibration images a job uses, before
 * it runs, so a person knows why its figures may be poor: too few images
 * for the toolchain, the same picture several times, pictures whose shape
 * is far from the model's input.
 *
 * API
 *   calib_quality_check(&in, warnings)   appends {"field", "code",
 *     "message", ...} objects to the cJSON array warnings; returns how many.
 *     Codes: calibration_small (with "used", "recommended"),
 *     calibration_duplicates (with "duplicates", "examples"),
 *     calibration_aspect (with "images", "examples", "input": [w, h]).
 *
 * The recommended counts are one row per toolchain, each naming the vendor
 * text it comes from.  Pure: no I/O.
 */
#ifndef KILN_CALIB_QUALITY_H
#define KILN_CALIB_QUALITY_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* An image whose aspect ratio differs from the input's by more than this
 * factor is letterboxed to a strip (or stretched out of shape): the model
 * is calibrated on borders, not on scenes. */
#define CALIB_QUALITY_ASPECT 2.0
/* Difference-hash bits two near-duplicates may differ in, of 64 (a common
 * threshold for dHash; re-encoding and resizing flip a few bits, a
 * different scene about half of them). */
#define CALIB_QUALITY_NEAR 4

struct calib_quality_in {
	const char *toolchain;     /* tpu-mlir, pulsar2, pulsar, voyager */
	const char *method;        /* calibration.method, "" when the tool has no choice */
	/* the job's sample: [{"entry", "sha256", "width", "height", "dhash"}]
	 * (server/jobcalib.c; "dhash" 16 hex digits, optional) */
	const cJSON *images;
	unsigned in_w, in_h;       /* the model input, 0 when unknown */
};

int calib_quality_check(const struct calib_quality_in *in, cJSON *warnings);

/* The toolchain's recommended least number of calibration images, 0 when
 * it names none; *source (may be NULL) gets where that is written. */
int calib_quality_recommended(const char *toolchain, const char **source);

#endif
