/*
 * calib_img: one image of a calibration set — probe, decode, resize, encode.
 *
 * The pixel work behind calib.h, kept apart so the archive logic and the
 * pixel logic each stay readable.  JPEG goes through libjpeg-turbo's
 * TurboJPEG API, PNG through libpng; everything comes out as packed 8-bit
 * RGB with the EXIF orientation applied.  Nothing here touches files,
 * archives or threads: a struct calib_img_dec holds one thread's codec
 * handles and scratch buffers, so each worker owns one and they never share.
 *
 * Decoding is the cost, so the JPEG path asks libjpeg-turbo for the smallest
 * DCT scale (1/8, 1/4, 1/2, 1) whose output still covers the target size and
 * only then resizes (triangle filter, vertical pass first because it
 * vectorises).  Every input is checked from its header before any pixel is
 * decoded: a rejection is KILN_EUNPROC with the reason in err->msg.
 */
#ifndef KILN_CALIB_IMG_H
#define KILN_CALIB_IMG_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/kiln_err.h"

enum calib_img_format {
	CALIB_IMG_UNKNOWN = 0,
	CALIB_IMG_JPEG,
	CALIB_IMG_PNG,
};

/* What the header says. */
struct calib_img_info {
	enum calib_img_format format;
	unsigned width, height;    /* as stored, before orientation */
	unsigned orientation;      /* EXIF 1..8 (JPEG only); 1 when absent */
	int gray;                  /* one colour channel in the file */
	int cmyk;                  /* CMYK or YCCK JPEG */
	int adobe;                 /* Adobe APP14 marker: CMYK stored inverted */
	int progressive;           /* progressive JPEG or interlaced PNG */
};

/* Width and height after orientation (5..8 swap the axes). */
unsigned calib_img_oriented_w(const struct calib_img_info *info);
unsigned calib_img_oriented_h(const struct calib_img_info *info);

/* Packed RGB: row stride is width * 3.  rgb is owned by whoever filled the
 * struct; free it with free(). */
struct calib_img {
	unsigned width, height;
	unsigned char *rgb;
};

/* Header checks applied before decoding. */
struct calib_img_limits {
	uint64_t max_pixels;       /* width * height from the header */
	unsigned min_side;         /* both sides must be at least this */
};

/* One thread's decoder.  Caller frees with calib_img_dec_free() (NULL ok). */
struct calib_img_dec;
int calib_img_dec_new(struct calib_img_dec **out, struct kiln_err *err);
void calib_img_dec_free(struct calib_img_dec *d);

/* Sniffs the format and reads the header: size, colour, orientation.
 * KILN_EUNPROC (reason in err) for a non-image, a corrupt header, a side
 * below min_side or more pixels than max_pixels. */
int calib_img_probe(struct calib_img_dec *d, const void *data, size_t len,
		    const struct calib_img_limits *lim, struct calib_img_info *info,
		    struct kiln_err *err);

/* Decodes (after calib_img_probe filled info) and resizes so the oriented
 * image fits inside box_w x box_h keeping its aspect; never enlarges.  out->rgb
 * is new; caller frees it.  Truncated or corrupt data is KILN_EUNPROC. */
int calib_img_fit(struct calib_img_dec *d, const void *data, size_t len,
		  const struct calib_img_info *info, unsigned box_w, unsigned box_h,
		  struct calib_img *out, struct kiln_err *err);

/* Where a letterboxed image landed inside its canvas. */
struct calib_img_place {
	unsigned x, y, width, height;
};

/* Decodes, scales to fit out_w x out_h (enlarging if smaller), centres it and
 * fills the borders with pad: the YOLO-style letterbox.  dst is the caller's
 * out_w * out_h * 3 bytes.  Probes itself (lim applies). */
int calib_img_letterbox(struct calib_img_dec *d, const void *data, size_t len,
			const struct calib_img_limits *lim, unsigned out_w, unsigned out_h,
			unsigned char pad, unsigned char *dst, struct calib_img_place *place,
			struct kiln_err *err);

/* Decodes and scales to exactly out_w x out_h, ignoring the aspect ratio
 * (the "resize" preprocessing some models were trained with).  dst is the
 * caller's out_w * out_h * 3 bytes.  Probes itself (lim applies). */
int calib_img_stretch(struct calib_img_dec *d, const void *data, size_t len,
		      const struct calib_img_limits *lim, unsigned out_w, unsigned out_h,
		      unsigned char *dst, struct kiln_err *err);

/* Resizes packed RGB src (sw x sh) to dst (dw x dh, row stride dstride bytes)
 * with a triangle filter widened for downscaling (what PIL calls BILINEAR).
 * Uses d's scratch memory. */
int calib_img_resize(struct calib_img_dec *d, const unsigned char *src, unsigned sw,
		     unsigned sh, unsigned char *dst, unsigned dw, unsigned dh,
		     size_t dstride, struct kiln_err *err);

/* The vector code the resampler may use; each level gives the same bytes. */
enum calib_simd { CALIB_SIMD_NONE, CALIB_SIMD_SSE2, CALIB_SIMD_AVX2 };

/* Caps the vector code for every decoder (tests compare the paths with it;
 * AVX2 runs only where the CPU has it).  Returns the cap it replaces. */
enum calib_simd calib_img_simd_cap(enum calib_simd cap);

/* Baseline JPEG, 4:4:4, accurate DCT.  *jpeg is new (malloc); caller frees. */
int calib_img_encode_jpeg(struct calib_img_dec *d, const unsigned char *rgb,
			  unsigned w, unsigned h, int quality, unsigned char **jpeg,
			  size_t *len, struct kiln_err *err);

/* Raw libjpeg-turbo decode of a whole JPEG to RGB at the given scale
 * denominator (1, 2, 4, 8) into d's scratch buffer: the benchmark's
 * reference for "how close to the codec we get". */
int calib_img_raw_decode(struct calib_img_dec *d, const void *data, size_t len,
			 unsigned denom, struct kiln_err *err);

const char *calib_img_format_name(enum calib_img_format f);

#endif
