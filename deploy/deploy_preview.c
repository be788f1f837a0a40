/*
 * deploy_preview: decode, draw boxes and labels, encode (see deploy_preview.h).
 * The text is a 5x7 bitmap font kept here (digits, A-Z, a few signs;
 * lower case is drawn as upper case) so the server needs no font files.
 */
#include "deploy/deploy_preview.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* Classic 5x7 glyphs, one byte per column, bit 0 at the top. */
static const struct {
	char c;
	unsigned char col[5];
} FONT[] = {
	{'0', {0x3E, 0x51, 0x49, 0x45, 0x3E}}, {'1', {0x00, 0x42, 0x7F, 0x40, 0x00}},
	{'2', {0x42, 0x61, 0x51, 0x49, 0x46}}, {'3', {0x21, 0x41, 0x45, 0x4B, 0x31}},
	{'4', {0x18, 0x14, 0x12, 0x7F, 0x10}}, {'5', {0x27, 0x45, 0x45, 0x45, 0x39}},
	{'6', {0x3C, 0x4A, 0x49, 0x49, 0x30}}, {'7', {0x01, 0x71, 0x09, 0x05, 0x03}},
	{'8', {0x36, 0x49, 0x49, 0x49, 0x36}}, {'9', {0x06, 0x49, 0x49, 0x29, 0x1E}},
	{'A', {0x7E, 0x11, 0x11, 0x11, 0x7E}}, {'B', {0x7F, 0x49, 0x49, 0x49, 0x36}},
	{'C', {0x3E, 0x41, 0x41, 0x41, 0x22}}, {'D', {0x7F, 0x41, 0x41, 0x22, 0x1C}},
	{'E', {0x7F, 0x49, 0x49, 0x49, 0x41}}, {'F', {0x7F, 0x09, 0x09, 0x01, 0x01}},
	{'G', {0x3E, 0x41, 0x41, 0x51, 0x32}}, {'H', {0x7F, 0x08, 0x08, 0x08, 0x7F}},
	{'I', {0x00, 0x41, 0x7F, 0x41, 0x00}}, {'J', {0x20, 0x40, 0x41, 0x3F, 0x01}},
	{'K', {0x7F, 0x08, 0x14, 0x22, 0x41}}, {'L', {0x7F, 0x40, 0x40, 0x40, 0x40}},
	{'M', {0x7F, 0x02, 0x04, 0x02, 0x7F}}, {'N', {0x7F, 0x04, 0x08, 0x10, 0x7F}},
	{'O', {0x3E, 0x41, 0x41, 0x41, 0x3E}}, {'P', {0x7F, 0x09, 0x09, 0x09, 0x06}},
	{'Q', {0x3E, 0x41, 0x51, 0x21, 0x5E}}, {'R', {0x7F, 0x09, 0x19, 0x29, 0x46}},
	{'S', {0x46, 0x49, 0x49, 0x49, 0x31}}, {'T', {0x01, 0x01, 0x7F, 0x01, 0x01}},
	{'U', {0x3F, 0x40, 0x40, 0x40, 0x3F}}, {'V', {0x1F, 0x20, 0x40, 0x20, 0x1F}},
	{'W', {0x7F, 0x20, 0x18, 0x20, 0x7F}}, {'X', {0x63, 0x14, 0x08, 0x14, 0x63}},
	{'Y', {0x03, 0x04, 0x78, 0x04, 0x03}}, {'Z', {0x61, 0x51, 0x49, 0x45, 0x43}},
	{' ', {0x00, 0x00, 0x00, 0x00, 0x00}}, {'.', {0x00, 0x60, 0x60, 0x00, 0x00}},
	{':', {0x00, 0x36, 0x36, 0x00, 0x00}}, {'-', {0x08, 0x08, 0x08, 0x08, 0x08}},
	{'_', {0x40, 0x40, 0x40, 0x40, 0x40}}, {'%', {0x23, 0x13, 0x08, 0x64, 0x62}},
	{'?', {0x02, 0x01, 0x51, 0x09, 0x06}},
};

/* Distinct, saturated colours: class k gets PALETTE[k % n]. */
static const unsigned char PALETTE[][3] = {
	{230, 25, 75}, {60, 180, 75}, {0, 130, 200}, {245, 130, 48}, {145, 30, 180},
	{70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 190}, {0, 128, 128},
};
#define N_PALETTE (sizeof(PALETTE) / sizeof(PALETTE[0]))

struct canvas {
	unsigned char *px;   /* RGB, 3 bytes per pixel */
	int w, h;
};

static const unsigned char *glyph(char c)
{
	c = (char)toupper((unsigned char)c);
	size_t n = sizeof(FONT) / sizeof(FONT[0]);
	for (size_t i = 0; i < n; i++)
		if (FONT[i].c == c)
			return FONT[i].col;
	return FONT[n - 1].col;
}

static void fill(struct canvas *cv, int x0, int y0, int x1, int y1, const unsigned char *rgb)
{
	if (x0 < 0) x0 = 0;
	if (y0 < 0) y0 = 0;
	if (x1 > cv->w) x1 = cv->w;
	if (y1 > cv->h) y1 = cv->h;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			memcpy(cv->px + ((size_t)y * (size_t)cv->w + (size_t)x) * 3, rgb, 3);
}

static void text(struct canvas *cv, int x, int y, int scale, const char *s,
		 const unsigned char *rgb)
{
	for (; *s; s++, x += 6 * scale) {
		const unsigned char *g = glyph(*s);
		for (int cx = 0; cx < 5; cx++)
			for (int cy = 0; cy < 7; cy++)
				if (g[cx] & (1u << cy))
					fill(cv, x + cx * scale, y + cy * scale,
					     x + (cx + 1) * scale, y + (cy + 1) * scale, rgb);
	}
}

int deploy_preview_check(const unsigned char *jpeg, size_t len, int *w, int *h,
			 struct kiln_err *err)
{
	tjhandle d = tjInitDecompress();
	if (d == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "cannot start the JPEG decoder");
	int sub, cs;
	int rc = tjDecompressHeader3(d, jpeg, (unsigned long)len, w, h, &sub, &cs);
	tjDestroy(d);
	if (rc != 0)
		return kiln_errf(err, KILN_EINVAL, "test.image",
				 "the test image is not a JPEG this server can read");
	if (*w <= 0 || *h <= 0 || (long)*w * (long)*h > DEPLOY_PREVIEW_MAX_PIXELS)
		return kiln_errf(err, KILN_ETOOBIG, "test.image",
				 "the test image is %dx%d; at most %ld pixels are drawn on", *w, *h,
				 DEPLOY_PREVIEW_MAX_PIXELS);
	return 0;
}

static int num_at(const cJSON *a, int i, double *v)
{
	const cJSON *it = cJSON_GetArrayItem(a, i);
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
		return -1;
	*v = it->valuedouble;
	return 0;
}

int deploy_preview_draw(const unsigned char *jpeg, size_t len, const cJSON *dets,
			const cJSON *labels, unsigned char **out, size_t *out_len,
			struct kiln_err *err)
{
	*out = NULL;
	*out_len = 0;
	int w, h;
	int rc = deploy_preview_check(jpeg, len, &w, &h, err);
	if (rc != 0)
		return rc;
	if (dets && !cJSON_IsArray(dets))
		return kiln_errf(err, KILN_EUNPROC, "detections", "detections must be a list");
	if (cJSON_GetArraySize(dets) > DEPLOY_PREVIEW_MAX_BOXES)
		return kiln_errf(err, KILN_EUNPROC, "detections",
				 "%d detections; at most %d are drawn", cJSON_GetArraySize(dets),
				 DEPLOY_PREVIEW_MAX_BOXES);
	struct canvas cv = {malloc((size_t)w * (size_t)h * 3), w, h};
	if (cv.px == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory for a %dx%d image", w, h);
	tjhandle d = tjInitDecompress();
	if (d == NULL || tjDecompress2(d, jpeg, (unsigned long)len, cv.px, w, 0, h, TJPF_RGB,
				       TJFLAG_ACCURATEDCT) != 0) {
		if (d)
			tjDestroy(d);
		free(cv.px);
		return kiln_errf(err, KILN_EINVAL, "test.image", "the test image does not decode");
	}
	tjDestroy(d);
	/* Lines and text grow with the picture so a 1080p preview stays legible. */
	int scale = w >= 1280 ? 3 : w >= 480 ? 2 : 1;
	int th = scale + 1;
	static const unsigned char white[3] = {255, 255, 255};
	int i = 0;
	for (const cJSON *dt = dets ? dets->child : NULL; dt; dt = dt->next, i++) {
		double x, y, bw, bh, score, cls;
		if (!cJSON_IsArray(dt) || cJSON_GetArraySize(dt) != 6 || num_at(dt, 0, &x) ||
		    num_at(dt, 1, &y) || num_at(dt, 2, &bw) || num_at(dt, 3, &bh) ||
		    num_at(dt, 4, &score) || num_at(dt, 5, &cls) || bw < 0 || bh < 0 ||
		    cls < 0 || cls > 1e6) {
			free(cv.px);
			return kiln_errf(err, KILN_EUNPROC, "detections",
					 "detections[%d] must be [x, y, w, h, score, class] with "
					 "w, h >= 0 and class a non-negative index", i);
		}
		/* Clamp before converting: a board may report boxes past the edge. */
		int x0 = (int)fmax(-1, fmin(x, w)), y0 = (int)fmax(-1, fmin(y, h));
		int x1 = (int)fmax(-1, fmin(x + bw, w)), y1 = (int)fmax(-1, fmin(y + bh, h));
		const unsigned char *col = PALETTE[(size_t)cls % N_PALETTE];
		fill(&cv, x0, y0, x1, y0 + th, col);
		fill(&cv, x0, y1 - th, x1, y1, col);
		fill(&cv, x0, y0, x0 + th, y1, col);
		fill(&cv, x1 - th, y0, x1, y1, col);
		char label[96];
		const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(labels, (int)cls));
		if (name)
			snprintf(label, sizeof(label), "%.40s %.2f", name, score);
		else
			snprintf(label, sizeof(label), "%d %.2f", (int)cls, score);
		int tw = (int)strlen(label) * 6 * scale + 2 * scale, tht = 9 * scale;
		int ty = y0 - tht >= 0 ? y0 - tht : y0;
		fill(&cv, x0, ty, x0 + tw, ty + tht, col);
		text(&cv, x0 + scale, ty + scale, scale, label, white);
	}
	tjhandle c = tjInitCompress();
	unsigned char *buf = NULL;
	unsigned long blen = 0;
	if (c == NULL || tjCompress2(c, cv.px, w, 0, h, TJPF_RGB, &buf, &blen, TJSAMP_420, 85,
				     0) != 0) {
		if (c)
			tjDestroy(c);
		tjFree(buf);
		free(cv.px);
		return kiln_errf(err, KILN_EIO, "", "cannot encode the preview JPEG");
	}
	tjDestroy(c);
	free(cv.px);
	/* Hand back malloc'd memory so the caller never needs tjFree(). */
	*out = malloc(blen);
	if (*out == NULL) {
		tjFree(buf);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	memcpy(*out, buf, blen);
	*out_len = blen;
	tjFree(buf);
	return 0;
}
