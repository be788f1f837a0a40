/*
 * calib_img: probe, decode, resize and encode one calibration image.
 *
 * Owns the pixel pipeline behind calib.c: header checks before any pixel is
 * decoded, JPEG via TurboJPEG with DCT scaling, PNG via libpng with every
 * conversion to 8-bit RGB, EXIF orientation, a fixed-point resampler, and
 * baseline JPEG encoding.  It never reads files, archives or the blob store
 * and never starts threads; callers give each thread its own decoder.
 */
#include "conversion/calib_img.h"

#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1   /* compiled with target("avx2"), run only where cpuid says so */
#endif

/* Fixed-point precision of resampling weights.  14 bits keeps
 * 255 * 2^14 * (sum of weights == 1) inside int32 with room for rounding. */
#define W_BITS 14
#define W_ONE (1 << W_BITS)

/* An image whose whole decode is above this many bytes takes big_lock
 * (see render): two ingest threads each holding a 150 MB 50-megapixel
 * decode were most of kilnd's 352 MB peak. */
#define BIG_DECODE ((uint64_t)32 << 20)
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

struct calib_img_dec {
	tjhandle tjd;
	tjhandle tjc;
	unsigned char *dec;   /* decoded (scaled) pixels */
	size_t dec_cap;
	unsigned char *tmp;   /* resize intermediate, orientation source */
	size_t tmp_cap;
	unsigned char *ori;   /* resized, before orientation */
	size_t ori_cap;
	int32_t *acc;         /* one row of vertical-pass accumulators */
	size_t acc_cap;
};

/* Grows *buf to at least need bytes; contents are not kept. */
static int grow(void **buf, size_t *cap, size_t need, struct kiln_err *err)
{
	if (*cap >= need)
		return 0;
	free(*buf);
	*buf = malloc(need);
	if (*buf == NULL) {
		*cap = 0;
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory (%zu bytes for an image)", need);
	}
	*cap = need;
	return 0;
}

int calib_img_dec_new(struct calib_img_dec **out, struct kiln_err *err)
{
	struct calib_img_dec *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	d->tjd = tjInitDecompress();
	d->tjc = tjInitCompress();
	if (d->tjd == NULL || d->tjc == NULL) {
		calib_img_dec_free(d);
		return kiln_errf(err, KILN_ENOMEM, "", "cannot start libjpeg-turbo: %s",
				 tjGetErrorStr2(NULL));
	}
	*out = d;
	return 0;
}

void calib_img_dec_free(struct calib_img_dec *d)
{
	if (d == NULL)
		return;
	if (d->tjd)
		tjDestroy(d->tjd);
	if (d->tjc)
		tjDestroy(d->tjc);
	free(d->dec);
	free(d->tmp);
	free(d->ori);
	free(d->acc);
	free(d);
}

const char *calib_img_format_name(enum calib_img_format f)
{
	switch (f) {
	case CALIB_IMG_JPEG: return "jpeg";
	case CALIB_IMG_PNG: return "png";
	default: return "unknown";
	}
}

unsigned calib_img_oriented_w(const struct calib_img_info *info)
{
	return info->orientation >= 5 ? info->height : info->width;
}

unsigned calib_img_oriented_h(const struct calib_img_info *info)
{
	return info->orientation >= 5 ? info->width : info->height;
}

/* --- headers ---------------------------------------------------------------- */

static unsigned rd16(const unsigned char *p, int le)
{
	return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const unsigned char *p, int le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
		  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The Orientation tag (0x0112) of IFD0 in an EXIF TIFF block; 1 when absent
 * or malformed, because a wrong rotation is worse than none. */
static unsigned exif_orientation(const unsigned char *t, size_t n)
{
	if (n < 8)
		return 1;
	int le;
	if (t[0] == 'I' && t[1] == 'I')
		le = 1;
	else if (t[0] == 'M' && t[1] == 'M')
		le = 0;
	else
		return 1;
	if (rd16(t + 2, le) != 42)
		return 1;
	uint64_t ifd = rd32(t + 4, le);
	if (ifd + 2 > n)
		return 1;
	unsigned cnt = rd16(t + ifd, le);
	for (unsigned k = 0; k < cnt; k++) {
		uint64_t off = ifd + 2 + 12 * (uint64_t)k;
		if (off + 12 > n)
			break;
		if (rd16(t + off, le) != 0x0112)
			continue;
		if (rd16(t + off + 2, le) != 3)   /* SHORT */
			return 1;
		unsigned v = rd16(t + off + 8, le);
		return v >= 1 && v <= 8 ? v : 1;
	}
	return 1;
}

/* Walks the markers before the first scan for what TurboJPEG does not tell,
 * or tells too late: EXIF orientation, the Adobe marker (inverted CMYK),
 * progressive SOF, the frame size.  Returns 1 when the data ends before the
 * first scan (a file cut inside its header), else 0. */
static int jpeg_markers(const unsigned char *p, size_t n, struct calib_img_info *info)
{
	size_t i = 2;
	int sof = 0;
	while (i + 4 <= n) {
		if (p[i] != 0xFF)
			return 0;
		unsigned m = p[i + 1];
		if (m == 0xFF) {
			i++;
			continue;
		}
		if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
			i += 2;
			continue;
		}
		if (m == 0xDA || m == 0xD9)
			return 0;
		size_t seg = (size_t)p[i + 2] << 8 | p[i + 3];
		if (seg < 2)
			return 0;
		if (i + 2 + seg > n)
			return 1;
		const unsigned char *s = p + i + 4;
		size_t sl = seg - 2;
		if (m == 0xE1 && sl >= 14 && memcmp(s, "Exif\0\0", 6) == 0)
			info->orientation = exif_orientation(s + 6, sl - 6);
		else if (m == 0xEE && sl >= 5 && memcmp(s, "Adobe", 5) == 0)
			info->adobe = 1;
		if (m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE)
			info->progressive = 1;
		if (!sof && m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && sl >= 5) {
			info->height = (unsigned)s[1] << 8 | s[2];
			info->width = (unsigned)s[3] << 8 | s[4];
			sof = 1;
		}
		i += 2 + seg;
	}
	return 1;
}

/* TurboJPEG 2.1 leaves a handle mid-header after an error, and the next
 * image then fails with "two SOI markers"; a fresh handle costs microseconds. */
static int tj_fail(struct calib_img_dec *d, struct kiln_err *err, const char *what)
{
	int rc = kiln_errf(err, KILN_EUNPROC, "", "%s: %s", what, tjGetErrorStr2(d->tjd));
	tjDestroy(d->tjd);
	d->tjd = tjInitDecompress();
	if (d->tjd == NULL)
		rc = kiln_errf(err, KILN_ENOMEM, "", "cannot restart libjpeg-turbo");
	return rc;
}

static int check_dims(const struct calib_img_info *info, const struct calib_img_limits *lim,
		      struct kiln_err *err)
{
	if (info->width < lim->min_side || info->height < lim->min_side)
		return kiln_errf(err, KILN_EUNPROC, "", "image is %ux%u, smaller than %ux%u",
				 info->width, info->height, lim->min_side, lim->min_side);
	uint64_t px = (uint64_t)info->width * info->height;
	if (lim->max_pixels && px > lim->max_pixels)
		return kiln_errf(err, KILN_EUNPROC, "",
				 "header declares %ux%u = %llu pixels, above the limit of %llu",
				 info->width, info->height, (unsigned long long)px,
				 (unsigned long long)lim->max_pixels);
	return 0;
}

static int probe_jpeg(struct calib_img_dec *d, const unsigned char *p, size_t len,
		      const struct calib_img_limits *lim, struct calib_img_info *info,
		      struct kiln_err *err)
{
	int w, h, ss, cs;
	if (len > (size_t)0x7fffffff)
		return kiln_errf(err, KILN_EUNPROC, "", "JPEG larger than 2 GiB");
	/* Our own marker walk sees the frame size first, so an absurd size
	 * is reported as such rather than as whatever libjpeg says. */
	int cut = jpeg_markers(p, len, info);
	if (info->width && info->height) {
		int rc = check_dims(info, lim, err);
		if (rc != 0)
			return rc;
	}
	if (tjDecompressHeader3(d->tjd, p, (unsigned long)len, &w, &h, &ss, &cs) != 0)
		return tj_fail(d, err, cut ? "truncated JPEG (the file ends inside its header)"
					   : "corrupt JPEG header");
	info->format = CALIB_IMG_JPEG;
	info->width = (unsigned)w;
	info->height = (unsigned)h;
	info->gray = cs == TJCS_GRAY;
	info->cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
	return 0;
}

static int probe_png(const unsigned char *p, size_t len, struct calib_img_info *info,
		     struct kiln_err *err)
{
	/* signature (8), IHDR length (4), "IHDR", 13 bytes of fields */
	if (len < 8 + 8 + 13 || memcmp(p + 12, "IHDR", 4) != 0 || rd32(p + 8, 0) != 13)
		return kiln_errf(err, KILN_EUNPROC, "", "corrupt PNG header: no IHDR chunk");
	uint32_t w = rd32(p + 16, 0), h = rd32(p + 20, 0);
	unsigned depth = p[24], ct = p[25], il = p[28];
	if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff)
		return kiln_errf(err, KILN_EUNPROC, "", "corrupt PNG header: size %ux%u", w, h);
	if ((ct != 0 && ct != 2 && ct != 3 && ct != 4 && ct != 6) || depth == 0 || depth > 16)
		return kiln_errf(err, KILN_EUNPROC, "", "corrupt PNG header: colour type %u, depth %u",
				 ct, depth);
	/* Deflate packs at most 1032:1 (a 258-byte match in a 2-bit code), so
	 * a file smaller than its rows over 1032 is truncated whatever follows.
	 * Said from the header, before any row is decoded: the streaming
	 * decoder builds its resize taps for the declared height first, and a
	 * 31-byte file declaring 1 x 1572880 cost seconds (found by fuzz_calib_image). */
	static const unsigned channels[7] = {1, 0, 3, 1, 2, 0, 4};
	uint64_t rowbytes = 1 + ((uint64_t)w * channels[ct] * depth + 7) / 8;
	if ((uint64_t)len * 1032 < (uint64_t)h * rowbytes)
		return kiln_errf(err, KILN_EUNPROC, "", "truncated PNG: %zu bytes cannot hold "
				 "%ux%u pixels", len, w, h);
	info->format = CALIB_IMG_PNG;
	info->width = w;
	info->height = h;
	info->gray = ct == 0 || ct == 4;
	info->progressive = il != 0;
	return 0;
}

int calib_img_probe(struct calib_img_dec *d, const void *data, size_t len,
		    const struct calib_img_limits *lim, struct calib_img_info *info,
		    struct kiln_err *err)
{
	const unsigned char *p = data;
	memset(info, 0, sizeof(*info));
	info->orientation = 1;
	int rc;
	if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		rc = probe_jpeg(d, p, len, lim, info, err);
	else if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		rc = probe_png(p, len, info, err);
	else
		return kiln_errf(err, KILN_EUNPROC, "", "not a JPEG or PNG image");
	if (rc != 0)
		return rc;
	return check_dims(info, lim, err);
}

/* --- decoding ---------------------------------------------------------------- */

/* libjpeg stores Adobe CMYK inverted (0 = full ink), which is what Photoshop
 * writes; without the Adobe marker the values are plain ink amounts.  Runs
 * in place: pixel i's RGB never overwrites pixel i+1's CMYK before it is read. */
static void cmyk_to_rgb(unsigned char *p, size_t npix, int inverted)
{
	for (size_t i = 0; i < npix; i++) {
		unsigned c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
		if (!inverted) {
			c = 255 - c;
			m = 255 - m;
			y = 255 - y;
			k = 255 - k;
		}
		p[3 * i] = (unsigned char)((c * k + 127) / 255);
		p[3 * i + 1] = (unsigned char)((m * k + 127) / 255);
		p[3 * i + 2] = (unsigned char)((y * k + 127) / 255);
	}
}

/* Decodes at the smallest DCT scale whose size still covers tw x th (stored
 * orientation) into d->dec; *ow, *oh get the decoded size. */
static int decode_jpeg(struct calib_img_dec *d, const unsigned char *p, size_t len,
		       const struct calib_img_info *info, unsigned tw, unsigned th,
		       unsigned *ow, unsigned *oh, struct kiln_err *err)
{
	static const unsigned denoms[] = { 8, 4, 2, 1 };
	tjscalingfactor sf = { 1, 1 };
	for (size_t i = 0; i < sizeof(denoms) / sizeof(denoms[0]); i++) {
		tjscalingfactor c = { 1, (int)denoms[i] };
		if ((unsigned)TJSCALED((int)info->width, c) >= tw &&
		    (unsigned)TJSCALED((int)info->height, c) >= th) {
			sf = c;
			break;
		}
	}
	unsigned w = (unsigned)TJSCALED((int)info->width, sf);
	unsigned h = (unsigned)TJSCALED((int)info->height, sf);
	int pf = info->cmyk ? TJPF_CMYK : TJPF_RGB;
	int rc = grow((void **)&d->dec, &d->dec_cap, (size_t)w * h * (info->cmyk ? 4 : 3), err);
	if (rc != 0)
		return rc;
	/* LIMITSCANS: a progressive JPEG with thousands of tiny scans would
	 * otherwise burn minutes of CPU on a few kilobytes of input. */
	if (tjDecompress2(d->tjd, p, (unsigned long)len, d->dec, (int)w, 0, (int)h, pf,
			  TJFLAG_LIMITSCANS) != 0) {
		const char *why = tjGetErrorStr2(d->tjd);
		/* A warning still yields pixels.  "Extraneous bytes before marker"
		 * is common in camera files and harmless; every other warning
		 * (premature end, bad Huffman code) means grey or garbage rows. */
		if (tjGetErrorCode(d->tjd) != TJERR_WARNING || strstr(why, "extraneous bytes") == NULL)
			return tj_fail(d, err, "corrupt or truncated JPEG");
	}
	if (info->cmyk)
		cmyk_to_rgb(d->dec, (size_t)w * h, info->adobe);
	*ow = w;
	*oh = h;
	return 0;
}

struct png_src {
	const unsigned char *p;
	size_t len, off;
	char msg[200];
};

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
	struct png_src *s = png_get_io_ptr(png);
	if (n > s->len - s->off)
		png_error(png, "file ends early");
	memcpy(out, s->p + s->off, n);
	s->off += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
	struct png_src *s = png_get_error_ptr(png);
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	/* Warnings (unknown chunks, odd colour profiles) leave the pixels
	 * intact; errors go through png_on_error. */
	(void)png;
	(void)msg;
}

/* --- resizing ------------------------------------------------------------------ */

struct taps {
	int *start;      /* first input index of each output */
	int *count;      /* number of inputs of each output */
	int16_t *w;      /* maxn weights per output, fixed point */
	int maxn;
	/* hrow_avx2's weights: for outputs 2j and 2j+1, maxn / 2 rows of eight
	 * int32, each a pair of weights (k, k+1) four times for 2j, then four
	 * times for 2j+1: one 32-byte load is a madd's weight operand. */
	int32_t *pairs;
	/* For the first fast_pairs pairs (all that hrow_avx2 can do): each
	 * pair's longer tap count and how many pixels 2j+1 starts after 2j.
	 * All three NULL and fast_pairs 0 unless taps_make_h made them. */
	unsigned char *pair_n, *pair_d;
	unsigned fast_pairs;
};

static void taps_free(struct taps *t)
{
	free(t->start);
	free(t->count);
	free(t->w);
	free(t->pairs);
	free(t->pair_n);
	free(t->pair_d);
}

/* Weights k and k+1 as the 32-bit lane madd_epi16 multiplies a pixel pair by. */
static int32_t weight_pair(const int16_t *w, int k)
{
	return (int32_t)((uint32_t)(uint16_t)w[k] | (uint32_t)(uint16_t)w[k + 1] << 16);
}

/* Triangle filter, widened by the scale when shrinking so every input pixel
 * contributes (antialiasing); the same kernel as PIL's BILINEAR, so the two
 * pipelines in the benchmark do the same work. */
static int taps_make(unsigned in, unsigned out, struct taps *t, struct kiln_err *err)
{
	double scale = (double)in / out;
	double fs = scale > 1.0 ? scale : 1.0;
	double support = fs;
	/* Even and one more than any count: the SIMD passes read weights in
	 * pairs, and the pair after an odd count must be weight 0 of this
	 * output, not the first weight of the next. */
	t->maxn = (int)ceil(support) * 2 + 2;
	t->start = malloc(sizeof(int) * out);
	t->count = malloc(sizeof(int) * out);
	t->w = calloc((size_t)out * t->maxn, sizeof(int16_t));
	double *fw = malloc(sizeof(double) * t->maxn);
	if (!t->start || !t->count || !t->w || !fw) {
		free(fw);
		taps_free(t);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	for (unsigned i = 0; i < out; i++) {
		double center = (i + 0.5) * scale;
		int lo = (int)(center - support + 0.5);
		int hi = (int)(center + support + 0.5);
		if (lo < 0)
			lo = 0;
		if (hi > (int)in)
			hi = (int)in;
		if (hi - lo > t->maxn - 1)
			hi = lo + t->maxn - 1;
		double sum = 0;
		for (int x = lo; x < hi; x++) {
			double v = fabs((x - center + 0.5) / fs);
			fw[x - lo] = v < 1.0 ? 1.0 - v : 0.0;
			sum += fw[x - lo];
		}
		if (sum <= 0) {   /* cannot happen for in >= 1; keep nearest */
			fw[0] = 1;
			sum = 1;
			hi = lo + 1;
		}
		int total = 0, big = 0;
		int16_t *wi = t->w + (size_t)i * t->maxn;
		for (int x = lo; x < hi; x++) {
			wi[x - lo] = (int16_t)lround(fw[x - lo] / sum * W_ONE);
			total += wi[x - lo];
			if (wi[x - lo] > wi[big])
				big = x - lo;
		}
		wi[big] = (int16_t)(wi[big] + (W_ONE - total));   /* weights sum to exactly 1 */
		t->start[i] = lo;
		t->count[i] = hi - lo;
	}
	free(fw);
	return 0;
}

/* Which vector code the passes may use: the best the CPU has, unless a test
 * lowers the cap to compare paths (calib_img_simd_cap).  Every path does the
 * same integer arithmetic in the same order, so all give identical bytes. */
static _Atomic int simd_cap = CALIB_SIMD_AVX2;

enum calib_simd calib_img_simd_cap(enum calib_simd cap)
{
	return (enum calib_simd)atomic_exchange(&simd_cap, (int)cap);
}

static bool use_sse2(void)
{
#ifdef __SSE2__
	return atomic_load_explicit(&simd_cap, memory_order_relaxed) >= CALIB_SIMD_SSE2;
#else
	return false;
#endif
}

static bool use_avx2(void)
{
#ifdef HAVE_AVX2_PATH
	return atomic_load_explicit(&simd_cap, memory_order_relaxed) >= CALIB_SIMD_AVX2 &&
	       __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

/* Fills t->pairs, pair_n, pair_d and fast_pairs from t->w (see struct
 * taps) for the leading pairs hrow_avx2 can do: the second output starts
 * at most 3 pixels after the first, the longer tap count fits pair_n, and
 * the 16-byte load of the last tap step stays inside the in pixels of a
 * row.  Only the rows' end (or a rounding that spreads two starts) stops
 * them, so the rest are few and take pass_h's SSE2 step. */
static int taps_pair_up(struct taps *t, unsigned in, unsigned out, struct kiln_err *err)
{
	unsigned np = (unsigned)t->maxn / 2, fast = 0;
	for (unsigned x = 0; x + 1 < out; x += 2, fast++) {
		int n = t->count[x] > t->count[x + 1] ? t->count[x] : t->count[x + 1];
		if (n > 255 || t->start[x + 1] - t->start[x] > 3 ||
		    (size_t)(t->start[x] + ((n - 1) & ~1)) * 3 + 16 > (size_t)in * 3)
			break;
	}
	if (fast == 0)
		return 0;
	t->pairs = malloc((size_t)fast * np * 8 * sizeof(int32_t));
	t->pair_n = malloc(fast);
	t->pair_d = malloc(fast);
	if (!t->pairs || !t->pair_n || !t->pair_d)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	for (unsigned j = 0; j < fast; j++) {
		const int16_t *w0 = t->w + (size_t)2 * j * t->maxn, *w1 = w0 + t->maxn;
		t->pair_n[j] = (unsigned char)(t->count[2 * j] > t->count[2 * j + 1]
					       ? t->count[2 * j] : t->count[2 * j + 1]);
		t->pair_d[j] = (unsigned char)(t->start[2 * j + 1] - t->start[2 * j]);
		int32_t *row = t->pairs + (size_t)j * np * 8;
		for (unsigned i = 0; i < np; i++) {
			for (int l = 0; l < 4; l++) {
				row[8 * i + l] = weight_pair(w0, 2 * (int)i);
				row[8 * i + 4 + l] = weight_pair(w1, 2 * (int)i);
			}
		}
	}
	t->fast_pairs = fast;
	return 0;
}

/* taps_make for a horizontal pass: with the AVX2 pair tables where the
 * AVX2 code will run. */
static int taps_make_h(unsigned in, unsigned out, struct taps *t, struct kiln_err *err)
{
	int rc = taps_make(in, out, t, err);
	if (rc == 0 && use_avx2())
		rc = taps_pair_up(t, in, out, err);
	return rc;
}

#ifdef HAVE_AVX2_PATH
/* vrow's SSE2 loop at 32 bytes a step.  AVX2's unpack and pack work within
 * each 128-bit half, and the unpacks going in and the packs coming out undo
 * each other half by half, so every byte gets the SSE2 loop's arithmetic.
 * Returns how many bytes it did. */
__attribute__((target("avx2")))
static unsigned vrow_avx2(const unsigned char *base, size_t sstride, unsigned rowbytes,
			  unsigned char *o, const int16_t *w, int n)
{
	const __m256i zero = _mm256_setzero_si256();
	const __m256i half = _mm256_set1_epi32(W_ONE / 2);
	unsigned i = 0;
	for (; i + 32 <= rowbytes; i += 32) {
		__m256i a0 = half, a1 = half, a2 = half, a3 = half;
		for (int k = 0; k < n; k += 2) {
			const unsigned char *r0 = base + (size_t)k * sstride + i;
			__m256i p = _mm256_loadu_si256((const __m256i *)r0);
			__m256i q = k + 1 < n ? _mm256_loadu_si256((const __m256i *)(r0 + sstride))
					      : zero;
			__m256i wp = _mm256_set1_epi32(weight_pair(w, k));
			__m256i plo = _mm256_unpacklo_epi8(p, zero), phi = _mm256_unpackhi_epi8(p, zero);
			__m256i qlo = _mm256_unpacklo_epi8(q, zero), qhi = _mm256_unpackhi_epi8(q, zero);
			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi16(plo, qlo), wp));
			a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi16(plo, qlo), wp));
			a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_unpacklo_epi16(phi, qhi), wp));
			a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_unpackhi_epi16(phi, qhi), wp));
		}
		a0 = _mm256_srai_epi32(a0, W_BITS);
		a1 = _mm256_srai_epi32(a1, W_BITS);
		a2 = _mm256_srai_epi32(a2, W_BITS);
		a3 = _mm256_srai_epi32(a3, W_BITS);
		__m256i lo = _mm256_packs_epi32(a0, a1), hi = _mm256_packs_epi32(a2, a3);
		_mm256_storeu_si256((__m256i *)(o + i), _mm256_packus_epi16(lo, hi));
	}
	return i;
}
#endif

/* Vertical pass: one output row is a weighted sum of whole input rows, so
 * the inner loop runs over contiguous bytes.  With SSE2 (every x86-64) two
 * input rows are interleaved into 16-bit pairs and _mm_madd_epi16 multiplies
 * and adds both at once; 16 bytes per step.  The scalar loop does the row's
 * tail and other CPUs, with the same arithmetic, so results are identical. */
static void vrow(const unsigned char *base, size_t sstride, unsigned rowbytes,
		 unsigned char *o, const int16_t *w, int n, int32_t *acc)
{
	unsigned i = 0;
#ifdef HAVE_AVX2_PATH
	if (use_avx2())
		i = vrow_avx2(base, sstride, rowbytes, o, w, n);
#endif
#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();
	const __m128i half = _mm_set1_epi32(W_ONE / 2);
	for (bool sse2 = use_sse2(); sse2 && i + 16 <= rowbytes; i += 16) {
		__m128i a0 = half, a1 = half, a2 = half, a3 = half;
		for (int k = 0; k < n; k += 2) {
			const unsigned char *r0 = base + (size_t)k * sstride + i;
			__m128i p = _mm_loadu_si128((const __m128i *)r0);
			__m128i q = k + 1 < n ? _mm_loadu_si128((const __m128i *)(r0 + sstride)) : zero;
			__m128i wp = _mm_set1_epi32(weight_pair(w, k));
			__m128i plo = _mm_unpacklo_epi8(p, zero), phi = _mm_unpackhi_epi8(p, zero);
			__m128i qlo = _mm_unpacklo_epi8(q, zero), qhi = _mm_unpackhi_epi8(q, zero);
			a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_unpacklo_epi16(plo, qlo), wp));
			a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_unpackhi_epi16(plo, qlo), wp));
			a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_unpacklo_epi16(phi, qhi), wp));
			a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_unpackhi_epi16(phi, qhi), wp));
		}
		a0 = _mm_srai_epi32(a0, W_BITS);
		a1 = _mm_srai_epi32(a1, W_BITS);
		a2 = _mm_srai_epi32(a2, W_BITS);
		a3 = _mm_srai_epi32(a3, W_BITS);
		__m128i lo = _mm_packs_epi32(a0, a1), hi = _mm_packs_epi32(a2, a3);
		_mm_storeu_si128((__m128i *)(o + i), _mm_packus_epi16(lo, hi));
	}
#endif
	if (i >= rowbytes)
		return;
	for (unsigned j = i; j < rowbytes; j++)
		acc[j] = W_ONE / 2;
	for (int k = 0; k < n; k++) {
		const unsigned char *r = base + (size_t)k * sstride;
		int32_t wk = w[k];
		for (unsigned j = i; j < rowbytes; j++)
			acc[j] += r[j] * wk;
	}
	for (unsigned j = i; j < rowbytes; j++) {
		int32_t v = acc[j] >> W_BITS;
		o[j] = (unsigned char)(v > 255 ? 255 : v < 0 ? 0 : v);
	}
}

static void pass_v(const unsigned char *src, size_t sstride, unsigned rowbytes,
		   unsigned char *dst, size_t dstride, unsigned dh, const struct taps *t,
		   int32_t *acc)
{
	for (unsigned y = 0; y < dh; y++)
		vrow(src + (size_t)t->start[y] * sstride, sstride, rowbytes,
		     dst + (size_t)y * dstride, t->w + (size_t)y * t->maxn, t->count[y], acc);
}

#ifdef HAVE_AVX2_PATH
/* Shifts, saturates and stores a pair's two sums: x and x+1. */
__attribute__((target("avx2")))
static inline void pair_put(unsigned char *o, unsigned x, __m256i acc)
{
	acc = _mm256_srai_epi32(acc, W_BITS);
	acc = _mm256_packs_epi32(acc, acc);
	acc = _mm256_packus_epi16(acc, acc);
	uint32_t p0 = (uint32_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(acc));
	uint32_t p1 = (uint32_t)_mm_cvtsi128_si32(_mm256_extracti128_si256(acc, 1));
	/* x's fourth byte is x+1's first, written next */
	memcpy(o + 3 * x, &p0, 4);
	o[3 * x + 3] = (unsigned char)p1;
	o[3 * x + 4] = (unsigned char)(p1 >> 8);
	o[3 * x + 5] = (unsigned char)(p1 >> 16);
}

/* pass_h for two outputs at once, x in the low 128-bit half and x+1 in the
 * high.  One 16-byte load at x's first tap holds x+1's taps too when x+1
 * starts at most 3 pixels later; a byte shuffle (in each half, with x+1's
 * half offset by 3 pixels per pixel of difference) makes the 16-bit pairs
 * (r_k r_k+1 g_k g_k+1 b_k b_k+1 0 0) that SSE2 builds with three unpacks,
 * so one madd applies two taps to three channels of two outputs.  The two
 * run the longer of their tap counts; weights past an output's count are 0
 * (taps_make's table is wider than any count), so an extra tap adds
 * nothing.  Sums are the SSE2 step's, in the same order.  Does the fast
 * pairs taps_pair_up found and returns the first x it did not do.
 *
 * Rows r0 and, unless r1 is NULL, r1 (into o0, o1) at once: a pair's tap
 * count, shuffle and weights are read once for both. */
__attribute__((target("avx2")))
static unsigned hrow_avx2(const unsigned char *r0, const unsigned char *r1, unsigned char *o0,
			  unsigned char *o1, const struct taps *t)
{
	/* Z: high bit set, which the shuffle reads as 0; still set after +9 */
	enum { Z = -128 };
	static const signed char pick[16] = { 0, Z, 3, Z, 1, Z, 4, Z, 2, Z, 5, Z, Z, Z, Z, Z };
	const __m256i base = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pick));
	const __m256i half = _mm256_set1_epi32(W_ONE / 2);
	__m256i ctl[4];   /* by how many pixels x+1 starts after x */
	for (int d = 0; d < 4; d++)
		ctl[d] = _mm256_add_epi8(base, _mm256_inserti128_si256(_mm256_setzero_si256(),
								       _mm_set1_epi8((char)(3 * d)), 1));
	int np = t->maxn / 2;
	unsigned x = 0;
	for (unsigned j = 0; j < t->fast_pairs; j++, x += 2) {
		int n = t->pair_n[j];
		__m256i c = ctl[t->pair_d[j]];
		size_t at = (size_t)t->start[x] * 3;
		const __m256i *wp = (const __m256i *)(t->pairs + (size_t)x / 2 * np * 8);
		__m256i acc0 = half, acc1 = half;
		for (int k = 0; k < n; k += 2) {
			__m256i wk = _mm256_loadu_si256(wp + k / 2);
			__m256i v = _mm256_broadcastsi128_si256(
				_mm_loadu_si128((const __m128i *)(r0 + at + 3 * k)));
			acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_shuffle_epi8(v, c), wk));
			if (r1 == NULL)
				continue;
			v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(r1 + at + 3 * k)));
			acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_shuffle_epi8(v, c), wk));
		}
		pair_put(o0, x, acc0);
		if (r1 != NULL)
			pair_put(o1, x, acc1);
	}
	return x;
}
#endif

/* Horizontal pass over packed RGB.  With SSE2, one 8-byte load holds pixels
 * k and k+1; shifting it by one pixel and interleaving gives (r0 r1 g0 g1
 * b0 b1 ..) so one madd applies two taps to all three channels.  The load
 * reads 2 bytes past pixel k+1, so outputs whose taps end near the row's
 * end take the scalar path and nothing outside the row is ever read.
 * Where the AVX2 code runs, hrow_avx2 first does each row's fast pairs,
 * two rows a call, and the loop here the outputs after them. */
static void pass_h(const unsigned char *src, size_t sstride, unsigned sw, unsigned h,
		   unsigned char *dst, size_t dstride, unsigned dw, const struct taps *t)
{
	bool avx2 = use_avx2(), sse2 = use_sse2();
	(void)avx2;   /* unused where neither path is compiled */
	(void)sse2;
#ifdef HAVE_AVX2_PATH
	unsigned x2 = 0;   /* where the last two-row AVX2 call stopped */
#endif
	for (unsigned y = 0; y < h; y++) {
		const unsigned char *r = src + (size_t)y * sstride;
		unsigned char *o = dst + (size_t)y * dstride;
		unsigned x = 0;
#ifdef HAVE_AVX2_PATH
		if (avx2 && y % 2 == 1)
			x = x2;   /* done with row y - 1 */
		else if (avx2 && y + 1 < h)
			x = x2 = hrow_avx2(r, r + sstride, o, o + dstride, t);
		else if (avx2)
			x = hrow_avx2(r, NULL, o, NULL, t);
#endif
		for (; x < dw; x++) {
			const int16_t *w = t->w + (size_t)x * t->maxn;
			const unsigned char *s = r + (size_t)t->start[x] * 3;
			int n = t->count[x];
#ifdef __SSE2__
			if (sse2 && (size_t)(t->start[x] + n - 1) * 3 + 8 <= (size_t)sw * 3) {
				const __m128i zero = _mm_setzero_si128();
				__m128i acc = _mm_set1_epi32(W_ONE / 2);
				for (int k = 0; k < n; k += 2) {
					__m128i v = _mm_loadl_epi64((const __m128i *)(s + 3 * k));
					v = _mm_unpacklo_epi8(v, zero);
					v = _mm_unpacklo_epi16(v, _mm_srli_si128(v, 6));
					__m128i wp = _mm_set1_epi32(weight_pair(w, k));
					acc = _mm_add_epi32(acc, _mm_madd_epi16(v, wp));
				}
				acc = _mm_srai_epi32(acc, W_BITS);
				acc = _mm_packs_epi32(acc, acc);
				uint32_t px = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(acc, acc));
				o[3 * x] = (unsigned char)px;
				o[3 * x + 1] = (unsigned char)(px >> 8);
				o[3 * x + 2] = (unsigned char)(px >> 16);
				continue;
			}
#endif
			int32_t a = W_ONE / 2, b = W_ONE / 2, c = W_ONE / 2;
			for (int k = 0; k < n; k++) {
				a += s[3 * k] * w[k];
				b += s[3 * k + 1] * w[k];
				c += s[3 * k + 2] * w[k];
			}
			a >>= W_BITS;
			b >>= W_BITS;
			c >>= W_BITS;
			o[3 * x] = (unsigned char)(a > 255 ? 255 : a < 0 ? 0 : a);
			o[3 * x + 1] = (unsigned char)(b > 255 ? 255 : b < 0 ? 0 : b);
			o[3 * x + 2] = (unsigned char)(c > 255 ? 255 : c < 0 ? 0 : c);
		}
	}
}

int calib_img_resize(struct calib_img_dec *d, const unsigned char *src, unsigned sw,
		     unsigned sh, unsigned char *dst, unsigned dw, unsigned dh,
		     size_t dstride, struct kiln_err *err)
{
	size_t sstride = (size_t)sw * 3;
	if (sw == dw && sh == dh) {
		for (unsigned y = 0; y < sh; y++)
			memcpy(dst + y * dstride, src + y * sstride, sstride);
		return 0;
	}
	struct taps tv = { 0 }, th = { 0 };
	int rc = 0;
	const unsigned char *mid = src;
	size_t mstride = sstride;
	if (sh != dh) {
		rc = taps_make(sh, dh, &tv, err);
		if (rc == 0)
			rc = grow((void **)&d->acc, &d->acc_cap, sizeof(int32_t) * sstride, err);
		if (rc == 0 && sw != dw)
			rc = grow((void **)&d->tmp, &d->tmp_cap, sstride * dh, err);
		if (rc != 0)
			goto out;
		if (sw == dw) {
			pass_v(src, sstride, (unsigned)sstride, dst, dstride, dh, &tv, d->acc);
			goto out;
		}
		pass_v(src, sstride, (unsigned)sstride, d->tmp, sstride, dh, &tv, d->acc);
		mid = d->tmp;
	}
	rc = taps_make_h(sw, dw, &th, err);
	if (rc != 0)
		goto out;
	pass_h(mid, mstride, sw, dh, dst, dstride, dw, &th);
out:
	if (tv.start)
		taps_free(&tv);
	if (th.start)
		taps_free(&th);
	return rc;
}

/* --- PNG, row by row -------------------------------------------------------------
 *
 * A 50-megapixel PNG decoded whole is 150 MB of RGB per ingest thread.  A
 * non-interlaced PNG arrives top to bottom, and the vertical pass needs
 * only the input rows under one output row's taps (start[y] never
 * decreases), so rows are read into a window of at most maxn rows, each
 * output row is computed as soon as its rows are in, then its horizontal
 * pass: the same arithmetic in the same order as calib_img_resize, so the
 * pixels are identical.  Interlaced PNGs (Adam7 fills every row again in
 * each pass) are still decoded whole, one big one at a time (big_lock).
 */

/* libpng set up for 8-bit RGB rows as decode_png does; NULL when out of
 * memory.  The caller calls setjmp(png_jmpbuf(*png)) right after. */
static png_structp png_open(struct png_src *src, png_infop *pi)
{
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, png_on_error,
						 png_on_warning);
	if (png == NULL)
		return NULL;
	*pi = png_create_info_struct(png);
	if (*pi == NULL) {
		png_destroy_read_struct(&png, NULL, NULL);
		return NULL;
	}
	return png;
}

/* After setjmp: reads the header and sets the conversions to 8-bit RGB
 * (palettes expanded, 16-bit scaled, grey replicated, alpha dropped, as
 * PIL's convert("RGB") does).  Errors longjmp. */
static void png_start(png_structp png, png_infop pi, struct png_src *src,
		      const struct calib_img_info *info)
{
	png_set_read_fn(png, src, png_read_mem);
	/* A bad CRC anywhere means the bytes are not what was written. */
	png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
	png_set_user_limits(png, info->width, info->height);
	png_set_chunk_malloc_max(png, 16u << 20);
	png_read_info(png, pi);
	if (png_get_image_width(png, pi) != info->width ||
	    png_get_image_height(png, pi) != info->height)
		png_error(png, "IHDR differs from the probed header");
	png_set_expand(png);
	png_set_scale_16(png);
	png_set_gray_to_rgb(png);
	png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, pi);
	if (png_get_rowbytes(png, pi) != (size_t)info->width * 3)
		png_error(png, "unexpected row size after conversion");
}

/* Full-size decode to 8-bit RGB into d->dec (interlaced PNGs). */
static int decode_png(struct calib_img_dec *d, const unsigned char *p, size_t len,
		      const struct calib_img_info *info, struct kiln_err *err)
{
	struct png_src src = { p, len, 0, "" };
	png_bytep *volatile rows = NULL;
	png_infop pi = NULL;
	png_structp png = png_open(&src, &pi);
	if (png == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (setjmp(png_jmpbuf(png))) {
		free(rows);
		png_destroy_read_struct(&png, &pi, NULL);
		return kiln_errf(err, KILN_EUNPROC, "", "corrupt or truncated PNG: %s", src.msg);
	}
	png_start(png, pi, &src, info);
	size_t stride = (size_t)info->width * 3;
	if (grow((void **)&d->dec, &d->dec_cap, stride * info->height, NULL) != 0)
		png_error(png, "out of memory for the image");
	rows = malloc(sizeof(*rows) * info->height);
	if (rows == NULL)
		png_error(png, "out of memory for row pointers");
	for (unsigned y = 0; y < info->height; y++)
		rows[y] = d->dec + y * stride;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	free(rows);
	png_destroy_read_struct(&png, &pi, NULL);
	return 0;
}

/* Decodes into d->dec at a size covering tw x th (stored orientation). */
static int decode_any(struct calib_img_dec *d, const void *data, size_t len,
		      const struct calib_img_info *info, unsigned tw, unsigned th,
		      unsigned *ow, unsigned *oh, struct kiln_err *err)
{
	if (info->format == CALIB_IMG_JPEG)
		return decode_jpeg(d, data, len, info, tw, th, ow, oh, err);
	if (info->format == CALIB_IMG_PNG) {
		*ow = info->width;
		*oh = info->height;
		return decode_png(d, data, len, info, err);
	}
	return kiln_errf(err, KILN_EINTERNAL, "", "decode called without a probed format");
}

/* The rows of a non-interlaced PNG through the window into dst (see
 * png_stream, which made the taps and buffers). */
static int png_rows(struct calib_img_dec *d, const unsigned char *p, size_t len,
		    const struct calib_img_info *info, unsigned tw, unsigned th,
		    unsigned char *dst, size_t dstride, const struct taps *tv,
		    const struct taps *thz, struct kiln_err *err)
{
	unsigned sw = info->width, sh = info->height;
	size_t stride = (size_t)sw * 3;
	struct png_src src = { p, len, 0, "" };
	png_infop pi = NULL;
	png_structp png = png_open(&src, &pi);
	if (png == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &pi, NULL);
		return kiln_errf(err, KILN_EUNPROC, "", "corrupt or truncated PNG: %s", src.msg);
	}
	png_start(png, pi, &src, info);
	unsigned char *win = d->dec, *row = d->tmp;
	unsigned next = 0;                /* next input row libpng gives */
	if (sh == th) {
		for (; next < sh; next++) {
			unsigned char *o = dst + (size_t)next * dstride;
			png_read_row(png, sw == tw ? o : row, NULL);
			if (sw != tw)
				pass_h(row, stride, sw, 1, o, dstride, tw, thz);
		}
	} else {
		unsigned wlo = 0, wn = 0;     /* the window holds rows wlo .. wlo+wn-1 */
		for (unsigned y = 0; y < th; y++) {
			unsigned s0 = (unsigned)tv->start[y], n = (unsigned)tv->count[y];
			if (s0 > wlo) {
				unsigned drop = s0 - wlo < wn ? s0 - wlo : wn;
				memmove(win, win + drop * stride, (wn - drop) * stride);
				wn -= drop;
				wlo = wn ? wlo + drop : next;
			}
			for (; next < s0 + n; next++) {
				if (next < s0) {      /* the window is empty here */
					png_read_row(png, row, NULL);
					wlo = next + 1;
					continue;
				}
				png_read_row(png, win + (size_t)wn * stride, NULL);
				if (wn++ == 0)
					wlo = next;
			}
			unsigned char *o = dst + (size_t)y * dstride;
			vrow(win + (size_t)(s0 - wlo) * stride, stride, (unsigned)stride,
			     sw == tw ? o : row, tv->w + (size_t)y * tv->maxn, (int)n, d->acc);
			if (sw != tw)
				pass_h(row, stride, sw, 1, o, dstride, tw, thz);
		}
	}
	/* The rest is read too: a truncated or corrupt file is refused
	 * whatever part of it the output needed. */
	for (; next < sh; next++)
		png_read_row(png, row, NULL);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &pi, NULL);
	return 0;
}

/* Decodes a non-interlaced PNG and resizes it to tw x th into dst (stride
 * dstride) without holding more than a window of input rows. */
static int png_stream(struct calib_img_dec *d, const unsigned char *p, size_t len,
		      const struct calib_img_info *info, unsigned tw, unsigned th,
		      unsigned char *dst, size_t dstride, struct kiln_err *err)
{
	unsigned sw = info->width, sh = info->height;
	size_t stride = (size_t)sw * 3;
	struct taps tv = { 0 }, thz = { 0 };
	int rc = 0;
	if (sh != th)
		rc = taps_make(sh, th, &tv, err);
	if (rc == 0 && sw != tw)
		rc = taps_make_h(sw, tw, &thz, err);
	/* window: maxn rows (d->dec); one row for the vertical result or a
	 * skipped input row (d->tmp); accumulators (d->acc) */
	size_t wrows = sh != th ? (size_t)tv.maxn : 1;
	if (rc == 0)
		rc = grow((void **)&d->dec, &d->dec_cap, wrows * stride, err);
	if (rc == 0)
		rc = grow((void **)&d->tmp, &d->tmp_cap, stride, err);
	if (rc == 0)
		rc = grow((void **)&d->acc, &d->acc_cap, sizeof(int32_t) * stride, err);
	if (rc == 0)
		rc = png_rows(d, p, len, info, tw, th, dst, dstride, &tv, &thz, err);
	if (tv.start)
		taps_free(&tv);
	if (thz.start)
		taps_free(&thz);
	return rc;
}

/* --- orientation and the public pipelines ------------------------------------ */

/* Copies src (w x h, stored orientation) to dst applying EXIF orientation o.
 * Each destination row is a walk through src from a start pixel with a fixed
 * step; the table below is the EXIF definition written that way. */
static void orient_copy(const unsigned char *src, unsigned w, unsigned h, unsigned o,
			unsigned char *dst, size_t dstride)
{
	unsigned dw = o >= 5 ? h : w, dh = o >= 5 ? w : h;
	ptrdiff_t row = (ptrdiff_t)w * 3;
	for (unsigned y = 0; y < dh; y++) {
		ptrdiff_t sx, sy, step;
		switch (o) {
		case 2: sx = w - 1; sy = y; step = -3; break;
		case 3: sx = w - 1; sy = h - 1 - y; step = -3; break;
		case 4: sx = 0; sy = h - 1 - y; step = 3; break;
		case 5: sx = y; sy = 0; step = row; break;
		case 6: sx = y; sy = h - 1; step = -row; break;
		case 7: sx = w - 1 - y; sy = h - 1; step = -row; break;
		case 8: sx = w - 1 - y; sy = 0; step = row; break;
		default: sx = 0; sy = y; step = 3; break;
		}
		const unsigned char *s = src + sy * row + sx * 3;
		unsigned char *o_ = dst + (size_t)y * dstride;
		for (unsigned x = 0; x < dw; x++, s += step) {
			o_[3 * x] = s[0];
			o_[3 * x + 1] = s[1];
			o_[3 * x + 2] = s[2];
		}
	}
}

/* The size w x h takes when fitted inside bw x bh keeping its aspect. */
static void fit_size(unsigned w, unsigned h, unsigned bw, unsigned bh, int enlarge,
		     unsigned *fw, unsigned *fh)
{
	if (!enlarge && w <= bw && h <= bh) {
		*fw = w;
		*fh = h;
		return;
	}
	if ((uint64_t)bw * h <= (uint64_t)bh * w) {
		*fw = bw;
		*fh = (unsigned)(((uint64_t)h * bw + w / 2) / w);
	} else {
		*fh = bh;
		*fw = (unsigned)(((uint64_t)w * bh + h / 2) / h);
	}
	if (*fw == 0)
		*fw = 1;
	if (*fh == 0)
		*fh = 1;
}

/* Resizes d->dec (sw x sh) to tw x th and applies orientation o into dst. */
static int render_oriented(struct calib_img_dec *d, unsigned sw, unsigned sh, unsigned tw,
			   unsigned th, unsigned o, unsigned char *dst, size_t dstride,
			   struct kiln_err *err)
{
	int rc = grow((void **)&d->ori, &d->ori_cap, (size_t)tw * th * 3, err);
	if (rc == 0)
		rc = calib_img_resize(d, d->dec, sw, sh, d->ori, tw, th, (size_t)tw * 3, err);
	if (rc == 0)
		orient_copy(d->ori, tw, th, o, dst, dstride);
	return rc;
}

/* Decodes, resizes to the oriented size fw x fh and writes it to dst with
 * stride dstride. */
static int render(struct calib_img_dec *d, const void *data, size_t len,
		  const struct calib_img_info *info, unsigned fw, unsigned fh,
		  unsigned char *dst, size_t dstride, struct kiln_err *err)
{
	unsigned o = info->orientation;
	unsigned tw = o >= 5 ? fh : fw, th = o >= 5 ? fw : fh;   /* stored orientation */
	unsigned sw = 0, sh = 0;
	if (info->format == CALIB_IMG_PNG && !info->progressive && o <= 1)
		return png_stream(d, data, len, info, tw, th, dst, dstride, err);
	/* Whole decodes of big images one at a time, their buffer given back
	 * after (a decoder keeps its buffers between images): only
	 * interlaced PNGs get here big, JPEGs are DCT-scaled first. */
	uint64_t whole = (uint64_t)info->width * info->height * 3;
	bool big = info->format == CALIB_IMG_PNG && whole > BIG_DECODE;
	if (big)
		pthread_mutex_lock(&big_lock);
	int rc = decode_any(d, data, len, info, tw, th, &sw, &sh, err);
	if (rc == 0 && o <= 1)
		rc = calib_img_resize(d, d->dec, sw, sh, dst, tw, th, dstride, err);
	else if (rc == 0)
		rc = render_oriented(d, sw, sh, tw, th, o, dst, dstride, err);
	if (big) {
		free(d->dec);
		d->dec = NULL;
		d->dec_cap = 0;
		pthread_mutex_unlock(&big_lock);
	}
	return rc;
}

int calib_img_fit(struct calib_img_dec *d, const void *data, size_t len,
		  const struct calib_img_info *info, unsigned box_w, unsigned box_h,
		  struct calib_img *out, struct kiln_err *err)
{
	unsigned fw, fh;
	fit_size(calib_img_oriented_w(info), calib_img_oriented_h(info), box_w, box_h, 0,
		 &fw, &fh);
	unsigned char *rgb = malloc((size_t)fw * fh * 3);
	if (rgb == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int rc = render(d, data, len, info, fw, fh, rgb, (size_t)fw * 3, err);
	if (rc != 0) {
		free(rgb);
		return rc;
	}
	out->width = fw;
	out->height = fh;
	out->rgb = rgb;
	return 0;
}

int calib_img_letterbox(struct calib_img_dec *d, const void *data, size_t len,
			const struct calib_img_limits *lim, unsigned out_w, unsigned out_h,
			unsigned char pad, unsigned char *dst, struct calib_img_place *place,
			struct kiln_err *err)
{
	struct calib_img_info info;
	int rc = calib_img_probe(d, data, len, lim, &info, err);
	if (rc != 0)
		return rc;
	unsigned fw, fh;
	fit_size(calib_img_oriented_w(&info), calib_img_oriented_h(&info), out_w, out_h, 1,
		 &fw, &fh);
	unsigned x0 = (out_w - fw) / 2, y0 = (out_h - fh) / 2;
	size_t stride = (size_t)out_w * 3;
	/* Only the borders are painted: the image region is written once. */
	if (y0 > 0)
		memset(dst, pad, stride * y0);
	if (y0 + fh < out_h)
		memset(dst + stride * (y0 + fh), pad, stride * (out_h - y0 - fh));
	if (fw < out_w) {
		for (unsigned y = y0; y < y0 + fh; y++) {
			memset(dst + stride * y, pad, (size_t)x0 * 3);
			memset(dst + stride * y + (size_t)(x0 + fw) * 3, pad,
			       (size_t)(out_w - x0 - fw) * 3);
		}
	}
	rc = render(d, data, len, &info, fw, fh, dst + stride * y0 + (size_t)x0 * 3, stride, err);
	if (rc == 0 && place) {
		place->x = x0;
		place->y = y0;
		place->width = fw;
		place->height = fh;
	}
	return rc;
}

int calib_img_stretch(struct calib_img_dec *d, const void *data, size_t len,
		      const struct calib_img_limits *lim, unsigned out_w, unsigned out_h,
		      unsigned char *dst, struct kiln_err *err)
{
	struct calib_img_info info;
	int rc = calib_img_probe(d, data, len, lim, &info, err);
	if (rc != 0)
		return rc;
	return render(d, data, len, &info, out_w, out_h, dst, (size_t)out_w * 3, err);
}

int calib_img_encode_jpeg(struct calib_img_dec *d, const unsigned char *rgb,
			  unsigned w, unsigned h, int quality, unsigned char **jpeg,
			  size_t *len, struct kiln_err *err)
{
	unsigned long cap = tjBufSize((int)w, (int)h, TJSAMP_444);
	unsigned char *buf = malloc(cap);
	if (buf == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	unsigned long size = cap;
	/* 4:4:4 keeps full-resolution colour: calibration measures activation
	 * ranges and should see the colours the camera sees, not halved chroma. */
	if (tjCompress2(d->tjc, rgb, (int)w, 0, (int)h, TJPF_RGB, &buf, &size, TJSAMP_444,
			quality, TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT) != 0) {
		free(buf);
		return kiln_errf(err, KILN_EINTERNAL, "", "JPEG encoding failed: %s",
				 tjGetErrorStr2(d->tjc));
	}
	*jpeg = buf;
	*len = size;
	return 0;
}

int calib_img_raw_decode(struct calib_img_dec *d, const void *data, size_t len,
			 unsigned denom, struct kiln_err *err)
{
	int w, h, ss, cs;
	if (tjDecompressHeader3(d->tjd, data, (unsigned long)len, &w, &h, &ss, &cs) != 0)
		return tj_fail(d, err, "corrupt JPEG header");
	tjscalingfactor sf = { 1, (int)denom };
	int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
	int rc = grow((void **)&d->dec, &d->dec_cap, (size_t)sw * sh * 3, err);
	if (rc != 0)
		return rc;
	if (tjDecompress2(d->tjd, data, (unsigned long)len, d->dec, sw, 0, sh, TJPF_RGB, 0) != 0)
		return tj_fail(d, err, "JPEG decode failed");
	return 0;
}
