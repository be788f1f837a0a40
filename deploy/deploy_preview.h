/*
 * deploy_preview: the test-run picture — kilnd decodes the test JPEG, draws
 * each detection's box and "label score" onto it and encodes a new JPEG
 * (libjpeg-turbo), so a headless board still gives a picture, like the
 * Node-RED preview of seed 002.  Knows nothing of HTTP or boards.
 *
 * API
 *   deploy_preview_check(jpeg, len, &w, &h, err)   a JPEG we will draw on?
 *                                                  (header only, pixel bound)
 *   deploy_preview_draw(jpeg, len, dets, labels, &out, &out_len, err)
 *       dets: JSON array of [x, y, w, h, score, class] in the image's pixels;
 *       labels: JSON array of strings or NULL.  *out is malloc'd; caller
 *       free()s.  Boxes are clipped to the image; a malformed detection is
 *       an error naming its index.
 */
#ifndef KILN_DEPLOY_PREVIEW_H
#define KILN_DEPLOY_PREVIEW_H

#include <stddef.h>

#include <cJSON.h>

#include "runtime/kiln_err.h"

/* 40 MP: above any camera sensor these boards carry, below what a hostile
 * 65535x65535 header would make us allocate (12 GiB). */
#define DEPLOY_PREVIEW_MAX_PIXELS (40L * 1000 * 1000)
#define DEPLOY_PREVIEW_MAX_BOXES 1000

int deploy_preview_check(const unsigned char *jpeg, size_t len, int *w, int *h,
			 struct kiln_err *err);
int deploy_preview_draw(const unsigned char *jpeg, size_t len, const cJSON *dets,
			const cJSON *labels, unsigned char **out, size_t *out_len,
			struct kiln_err *err);

#endif
