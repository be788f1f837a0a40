/*
 * fuzz_calib_image: the image decoder path for one entry's bytes.
 *
 * Probe, fit into 256x256, letterbox into 64x48 and stretch: every way a
 * calibration image is decoded, on whatever bytes the fuzzer makes (JPEG
 * and PNG seeds, including progressive, grey, CMYK, palette and 16-bit).
 * The pixel bound is small so a declared-huge image is refused, as in
 * production, instead of exhausting the fuzzer's memory.
 *
 * fuzz-sources: conversion/calib_img.c runtime/kiln_err.c
 * fuzz-seeds: tests/fuzz/calib_seeds.py image
 */
#include <stdint.h>
#include <stdlib.h>

#include "conversion/calib_img.h"

static struct calib_img_dec *d;
static unsigned char canvas[64 * 48 * 3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_err e;
	if (d == NULL && calib_img_dec_new(&d, &e) != 0)
		abort();
	struct calib_img_limits lim = { 4000000, 1 };
	struct calib_img_info info;
	if (calib_img_probe(d, data, size, &lim, &info, &e) != 0)
		return 0;
	struct calib_img img = { 0 };
	if (calib_img_fit(d, data, size, &info, 256, 256, &img, &e) == 0)
		free(img.rgb);
	calib_img_letterbox(d, data, size, &lim, 64, 48, 114, canvas, NULL, &e);
	calib_img_stretch(d, data, size, &lim, 64, 48, canvas, &e);
	return 0;
}
