/*
 * test_calib: calibration archives in, normalised sets and exports out.
 *
 * Every archive is built here with libarchive's write API (or by hand where
 * the point is a malformed one); images are made with TurboJPEG and libpng,
 * or are the real photographs python3-skimage ships (tests that need those
 * SKIP when the package is missing).  Each hostile input of issue 5 has its
 * own test; all of them also check that nothing appeared outside the data
 * directory.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "conversion/calib.h"
#include "kt.h"

#define SKIMAGE "/usr/lib/python3/dist-packages/skimage/data"

/* --- image makers ----------------------------------------------------------------- */

struct buf {
	unsigned char *p;
	size_t n;
};

/* A w x h RGB test pattern: gradients plus seeded noise, so two seeds give
 * two different images and JPEG has real detail to code. */
static unsigned char *pattern(unsigned w, unsigned h, unsigned seed)
{
	unsigned char *px = malloc((size_t)w * h * 3);
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < (size_t)w * h; i++) {
		s = s * 1664525u + 1013904223u;
		unsigned x = (unsigned)(i % w), y = (unsigned)(i / w);
		px[3 * i] = (unsigned char)(x * 255 / (w ? w : 1));
		px[3 * i + 1] = (unsigned char)(y * 255 / (h ? h : 1));
		px[3 * i + 2] = (unsigned char)((s >> 24) & 0x3F) + (unsigned char)(seed * 37);
	}
	return px;
}

static struct buf jpeg_of(const unsigned char *px, unsigned w, unsigned h, int pf, int samp,
			  int flags)
{
	tjhandle tj = tjInitCompress();
	unsigned char *out = NULL;
	unsigned long n = 0;
	if (tjCompress2(tj, px, (int)w, 0, (int)h, pf, &out, &n, samp, 90, flags) != 0)
		fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
	tjDestroy(tj);
	struct buf b = { malloc(n), n };
	memcpy(b.p, out, n);
	tjFree(out);
	return b;
}

static struct buf make_jpeg(unsigned w, unsigned h, unsigned seed)
{
	unsigned char *px = pattern(w, h, seed);
	struct buf b = jpeg_of(px, w, h, TJPF_RGB, TJSAMP_420, 0);
	free(px);
	return b;
}

static void png_write_mem(png_structp png, png_bytep data, size_t n)
{
	struct buf *b = png_get_io_ptr(png);
	b->p = realloc(b->p, b->n + n);
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void png_flush_mem(png_structp png)
{
	(void)png;
}

/* PNG of the given colour type and depth; pixel values from pattern(). */
static struct buf make_png(unsigned w, unsigned h, int ct, int depth)
{
	struct buf b = { NULL, 0 };
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return b;
	}
	png_set_write_fn(png, &b, png_write_mem, png_flush_mem);
	png_set_IHDR(png, info, w, h, depth, ct, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_color pal[4] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 255, 255, 255 } };
	if (ct == PNG_COLOR_TYPE_PALETTE)
		png_set_PLTE(png, info, pal, 4);
	png_write_info(png, info);
	if (depth == 16)
		png_set_swap(png);   /* we fill rows in host (little-endian) order */
	int ch = ct == PNG_COLOR_TYPE_RGB ? 3 : ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
		 : ct == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
	size_t rowbytes = (size_t)w * ch * (depth == 16 ? 2 : 1);
	unsigned char *row = malloc(rowbytes);
	for (unsigned y = 0; y < h; y++) {
		for (unsigned x = 0; x < w; x++) {
			for (int c = 0; c < ch; c++) {
				unsigned v = ct == PNG_COLOR_TYPE_PALETTE ? (x / 8) % 4
					     : (x * 7 + y * 3 + (unsigned)c * 50) % 256;
				if (depth == 16) {
					uint16_t v16 = (uint16_t)(v * 257);
					memcpy(row + ((size_t)x * ch + c) * 2, &v16, 2);
				} else {
					row[(size_t)x * ch + c] = (unsigned char)v;
				}
			}
		}
		png_write_row(png, row);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(row);
	return b;
}

static struct buf read_buf(const char *path)
{
	struct buf b = { NULL, 0 };
	b.p = (unsigned char *)kt_read_file(path, &b.n);
	return b;
}

/* --- archive makers ------------------------------------------------------------------ */

enum afmt { TAR, TGZ, TBZ2, TXZ, ZIP };

static struct archive *arc_open(const char *path, enum afmt f)
{
	struct archive *a = archive_write_new();
	if (f == ZIP)
		archive_write_set_format_zip(a);
	else
		archive_write_set_format_pax_restricted(a);
	if (f == TGZ)
		archive_write_add_filter_gzip(a);
	if (f == TBZ2)
		archive_write_add_filter_bzip2(a);
	if (f == TXZ)
		archive_write_add_filter_xz(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		fprintf(stderr, "archive open %s: %s\n", path, archive_error_string(a));
	return a;
}

static void arc_add(struct archive *a, const char *name, mode_t type, const void *data,
		    size_t len, const char *link)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	if (type == AE_IFCHR)
		archive_entry_set_rdev(e, 0x0501);
	archive_write_header(a, e);
	if (type == AE_IFREG && len)
		archive_write_data(a, data, len);
	archive_entry_free(e);
}

static void arc_file(struct archive *a, const char *name, struct buf b)
{
	arc_add(a, name, AE_IFREG, b.p, b.n, NULL);
}

static void arc_close(struct archive *a)
{
	archive_write_close(a);
	archive_write_free(a);
}

/* --- running ingest ------------------------------------------------------------------- */

struct run {
	char dir[300];       /* the test's scratch directory */
	char data[400];      /* data dir for the blob store */
	char arc[400];       /* archive path */
	struct blob_store *bs;
	struct calib_result *r;
	struct kiln_err err;
	int rc;
};

static void run_init(struct run *t, const char *arcname)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s", kt_tmpdir());
	snprintf(t->data, sizeof(t->data), "%s/data", t->dir);
	snprintf(t->arc, sizeof(t->arc), "%s/%s", t->dir, arcname);
	struct kiln_err e;
	if (blob_store_open(t->data, &t->bs, &e) != 0)
		fprintf(stderr, "blob_store_open: %s\n", e.msg);
}

static int run_ingest(struct run *t, const struct calib_limits *lim)
{
	struct calib_limits d;
	calib_limits_default(&d);
	t->rc = calib_ingest(t->bs, t->arc, lim ? lim : &d, &t->r, &t->err);
	return t->rc;
}

static void run_free(struct run *t)
{
	calib_result_free(t->r);
	blob_store_close(t->bs);
}

static const char *reason_of(const struct calib_result *r, const char *entry)
{
	for (size_t i = 0; r && i < r->n_rejected; i++)
		if (strcmp(r->rejected[i].entry, entry) == 0)
			return r->rejected[i].reason;
	return NULL;
}

static int contains(const char *s, const char *sub)
{
	return s != NULL && strstr(s, sub) != NULL;
}

/* Regular files under dir (recursively), to prove nothing else was written. */
static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			n += count_files(p);
		else
			n++;
	}
	closedir(d);
	return n;
}

/* The scratch dir holds only the archive and the data dir, whose files are
 * exactly the blobs of the kept images. */
static void check_nothing_outside(struct run *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "data") == 0 ||
		    strcmp(de->d_name, strrchr(t->arc, '/') + 1) == 0)
			continue;
		CHECKF(0, "unexpected file %s in the test directory", de->d_name);
	}
	if (d)
		closedir(d);
	char blobs[600];
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", t->data);
	size_t kept = t->r && t->r->complete ? t->r->n_images : 0;
	CHECK_INT(count_files(blobs), kept);
	snprintf(blobs, sizeof(blobs), "%s/blobs/tmp", t->data);
	CHECK_INT(count_files(blobs), 0);
	CHECK(access("/etc/x.jpg", F_OK) != 0);
	CHECK(access("/tmp/x.jpg", F_OK) != 0);
}

/* The blob of an image: readable, a baseline JPEG within the size cap. */
static void check_normalised(struct run *t, const struct calib_image *im, unsigned cap)
{
	char p[600];
	struct kiln_err e;
	if (!CHECK(blob_path(t->bs, im->sha256, p, sizeof(p), &e) == 0))
		return;
	struct buf b = read_buf(p);
	if (!CHECKF(b.p != NULL, "blob %s missing", im->sha256))
		return;
	char hex[65];
	blob_sha256_hex(b.p, b.n, hex);
	CHECK_STR(hex, im->sha256);
	tjhandle tj = tjInitDecompress();
	int w, h, ss, cs;
	CHECK(tjDecompressHeader3(tj, b.p, b.n, &w, &h, &ss, &cs) == 0);
	CHECK((unsigned)w == im->width && (unsigned)h == im->height);
	CHECK(w <= (int)cap && h <= (int)cap);
	CHECK(ss == TJSAMP_444);
	tjDestroy(tj);
	/* Baseline: SOF0 present, no progressive SOF2. */
	int sof0 = 0, sof2 = 0;
	for (size_t i = 0; i + 1 < b.n; i++) {
		if (b.p[i] == 0xFF && b.p[i + 1] == 0xC0)
			sof0 = 1;
		if (b.p[i] == 0xFF && b.p[i + 1] == 0xC2)
			sof2 = 1;
		if (b.p[i] == 0xFF && b.p[i + 1] == 0xDA)
			break;
	}
	CHECK(sof0 && !sof2);
	free(b.p);
}

/* Decodes a normalised blob to RGB (caller frees). */
static unsigned char *blob_rgb(struct run *t, const char *sha, int *w, int *h)
{
	char p[600];
	struct kiln_err e;
	blob_path(t->bs, sha, p, sizeof(p), &e);
	struct buf b = read_buf(p);
	if (b.p == NULL)
		return NULL;
	tjhandle tj = tjInitDecompress();
	int ss, cs;
	tjDecompressHeader3(tj, b.p, b.n, w, h, &ss, &cs);
	unsigned char *px = malloc((size_t)*w * *h * 3);
	tjDecompress2(tj, b.p, b.n, px, *w, 0, *h, TJPF_RGB, 0);
	tjDestroy(tj);
	free(b.p);
	return px;
}

static int have_skimage(void)
{
	if (access(SKIMAGE "/truncated.jpg", R_OK) == 0)
		return 1;
	kt_skip("python3-skimage is not installed (%s)", SKIMAGE);
	return 0;
}

/* --- tests: what is kept ----------------------------------------------------------------- */

static void ingest__keeps_real_photos_normalised_and_sorted(void)
{
	if (!have_skimage())
		return;
	struct run t;
	run_init(&t, "photos.tar.gz");
	struct archive *a = arc_open(t.arc, TGZ);
	const char *files[] = { "rocket.jpg", "chelsea.png", "coffee.png", "hubble_deep_field.jpg",
				"retina.jpg" };
	for (size_t i = 0; i < 5; i++) {
		char src[300], name[300];
		snprintf(src, sizeof(src), SKIMAGE "/%s", files[i]);
		snprintf(name, sizeof(name), "set/%s", files[i]);
		struct buf b = read_buf(src);
		arc_file(a, name, b);
		free(b.p);
	}
	arc_close(a);
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.long_side = 512;
	if (!CHECKF(run_ingest(&t, &lim) == 0, "%s", t.err.msg))
		goto out;
	CHECK_INT(t.r->n_images, 5);
	CHECK_INT(t.r->n_rejected, 0);
	CHECK(t.r->complete);
	for (size_t i = 0; i < t.r->n_images; i++) {
		check_normalised(&t, &t.r->images[i], 512);
		if (i > 0)
			CHECK(strcmp(t.r->images[i - 1].entry, t.r->images[i].entry) < 0);
	}
	CHECK_STR(t.r->images[0].entry, "set/chelsea.png");
	/* retina.jpg is 1411x1411: capped to 512x512 */
	CHECK_STR(t.r->images[3].entry, "set/retina.jpg");
	CHECK(t.r->images[3].width == 512 && t.r->images[3].height == 512);
	CHECK(t.r->images[3].src_width == 1411);
	check_nothing_outside(&t);
out:
	run_free(&t);
}

static void ingest__reads_tar_tgz_tbz2_txz_zip_to_the_same_set(void)
{
	char first[65] = "";
	const enum afmt fmts[] = { TAR, TGZ, TBZ2, TXZ, ZIP };
	const char *names[] = { "a.tar", "a.tar.gz", "a.tar.bz2", "a.tar.xz", "a.zip" };
	struct buf j1 = make_jpeg(300, 200, 1), j2 = make_jpeg(64, 64, 2);
	struct buf p1 = make_png(40, 30, PNG_COLOR_TYPE_RGB, 8);
	for (size_t f = 0; f < 5; f++) {
		struct run t;
		run_init(&t, names[f]);
		struct archive *a = arc_open(t.arc, fmts[f]);
		arc_file(a, "z.jpg", j1);
		arc_file(a, "b/y.jpeg", j2);
		arc_file(a, "x.png", p1);
		arc_close(a);
		if (CHECKF(run_ingest(&t, NULL) == 0, "%s: %s", names[f], t.err.msg)) {
			CHECKF(t.r->n_images == 3, "%s: %zu images", names[f], t.r->n_images);
			if (first[0] == '\0')
				memcpy(first, t.r->set_sha256, sizeof(first));
			else
				CHECKF(strcmp(first, t.r->set_sha256) == 0, "%s gives another set", names[f]);
			CHECK_STR(t.r->images[0].entry, "b/y.jpeg");
		}
		run_free(&t);
	}
	free(j1.p);
	free(j2.p);
	free(p1.p);
}

static void ingest__converts_grey_cmyk_progressive_jpeg_and_16bit_palette_png(void)
{
	struct run t;
	run_init(&t, "kinds.tar");
	struct archive *a = arc_open(t.arc, TAR);
	unsigned w = 48, h = 32;
	unsigned char *rgb = pattern(w, h, 3);
	struct buf grey = jpeg_of(rgb, w, h, TJPF_RGB, TJSAMP_GRAY, 0);
	struct buf prog = jpeg_of(rgb, w, h, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE);
	/* Adobe CMYK as Photoshop writes it: stored inverted, so (255,0,0,255)
	 * is no cyan, full magenta and yellow, no black: red. */
	unsigned char *cmyk = malloc((size_t)w * h * 4);
	for (size_t i = 0; i < (size_t)w * h; i++) {
		cmyk[4 * i] = 255;
		cmyk[4 * i + 1] = 0;
		cmyk[4 * i + 2] = 0;
		cmyk[4 * i + 3] = 255;
	}
	struct buf cm = jpeg_of(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 0);
	struct buf p16 = make_png(w, h, PNG_COLOR_TYPE_RGB, 16);
	struct buf pal = make_png(w, h, PNG_COLOR_TYPE_PALETTE, 8);
	struct buf ga = make_png(w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8);
	struct buf g1 = make_png(w, h, PNG_COLOR_TYPE_GRAY, 1);
	arc_file(a, "1_grey.jpg", grey);
	arc_file(a, "2_prog.jpg", prog);
	arc_file(a, "3_cmyk.jpg", cm);
	arc_file(a, "4_rgb16.png", p16);
	arc_file(a, "5_palette.png", pal);
	arc_file(a, "6_greyalpha.png", ga);
	arc_file(a, "7_grey1bit.png", g1);
	arc_close(a);
	if (!CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg))
		goto out;
	for (size_t i = 0; i < t.r->n_rejected; i++)
		CHECKF(0, "rejected %s: %s", t.r->rejected[i].entry, t.r->rejected[i].reason);
	if (!CHECK_INT(t.r->n_images, 7))
		goto out;
	CHECK(t.r->images[0].gray && t.r->images[5].gray && t.r->images[6].gray);
	CHECK(!t.r->images[1].gray && !t.r->images[2].gray);
	int iw, ih;
	unsigned char *px = blob_rgb(&t, t.r->images[2].sha256, &iw, &ih);
	if (CHECK(px != NULL)) {
		unsigned char *c = px + ((size_t)(ih / 2) * iw + iw / 2) * 3;
		CHECKF(c[0] > 240 && c[1] < 15 && c[2] < 15, "CMYK red came out %u,%u,%u",
		       c[0], c[1], c[2]);
	}
	free(px);
	/* Palette: first 8 columns are palette entry 0, red. */
	px = blob_rgb(&t, t.r->images[4].sha256, &iw, &ih);
	if (CHECK(px != NULL))
		CHECKF(px[3 * 2] > 230 && px[3 * 2 + 1] < 25, "palette red came out %u,%u", px[6], px[7]);
	free(px);
	cJSON *j = calib_result_json(t.r);
	cJSON *st = cJSON_GetObjectItem(j, "stats");
	CHECK_INT(cJSON_GetObjectItem(st, "grayscale")->valueint, 3);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "formats"), "png")->valueint, 4);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "formats"), "jpeg")->valueint, 3);
	cJSON_Delete(j);
out:
	free(rgb);
	free(cmyk);
	free(grey.p);
	free(prog.p);
	free(cm.p);
	free(p16.p);
	free(pal.p);
	free(ga.p);
	free(g1.p);
	run_free(&t);
}

/* A minimal EXIF APP1 with one IFD0 entry, Orientation = o (big-endian). */
static struct buf with_orientation(struct buf j, unsigned o)
{
	static const unsigned char tmpl[] = {
		0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,
		0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00,
	};
	struct buf b = { malloc(j.n + sizeof(tmpl)), j.n + sizeof(tmpl) };
	memcpy(b.p, j.p, 2);
	memcpy(b.p + 2, tmpl, sizeof(tmpl));
	b.p[2 + 29] = (unsigned char)o;   /* the SHORT value's low byte (big-endian) */
	memcpy(b.p + 2 + sizeof(tmpl), j.p + 2, j.n - 2);
	return b;
}

static void ingest__applies_exif_orientation(void)
{
	struct run t;
	run_init(&t, "exif.zip");
	/* Stored 64x32: left half red, right half blue. */
	unsigned w = 64, h = 32;
	unsigned char *px = malloc((size_t)w * h * 3);
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++) {
			unsigned char *p = px + ((size_t)y * w + x) * 3;
			p[0] = x < w / 2 ? 255 : 0;
			p[1] = 0;
			p[2] = x < w / 2 ? 0 : 255;
		}
	struct buf j = jpeg_of(px, w, h, TJPF_RGB, TJSAMP_444, 0);
	struct buf r6 = with_orientation(j, 6), r3 = with_orientation(j, 3);
	struct archive *a = arc_open(t.arc, ZIP);
	arc_file(a, "rot6.jpg", r6);
	arc_file(a, "rot3.jpg", r3);
	arc_close(a);
	if (!CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg) || !CHECK_INT(t.r->n_images, 2))
		goto out;
	/* rotate 90 clockwise: 32 wide, 64 high, the left (red) half on top */
	const struct calib_image *im = &t.r->images[1];
	CHECK_STR(im->entry, "rot6.jpg");
	CHECK(im->width == 32 && im->height == 64);
	int iw, ih;
	unsigned char *o = blob_rgb(&t, im->sha256, &iw, &ih);
	if (CHECK(o != NULL)) {
		unsigned char *top = o + ((size_t)8 * iw + 16) * 3;
		unsigned char *bot = o + ((size_t)56 * iw + 16) * 3;
		CHECKF(top[0] > 200 && top[2] < 60, "top is %u,%u,%u", top[0], top[1], top[2]);
		CHECKF(bot[2] > 200 && bot[0] < 60, "bottom is %u,%u,%u", bot[0], bot[1], bot[2]);
	}
	free(o);
	/* rotate 180: still 64x32, red now on the right */
	o = blob_rgb(&t, t.r->images[0].sha256, &iw, &ih);
	if (CHECK(o != NULL && iw == 64 && ih == 32)) {
		unsigned char *right = o + ((size_t)16 * iw + 56) * 3;
		CHECKF(right[0] > 200 && right[2] < 60, "right is %u,%u,%u", right[0], right[1],
		       right[2]);
	}
	free(o);
out:
	free(px);
	free(j.p);
	free(r6.p);
	free(r3.p);
	run_free(&t);
}

static void ingest__stores_duplicates_once_and_reports_them(void)
{
	struct run t;
	run_init(&t, "dup.tar");
	struct buf j = make_jpeg(100, 80, 9), k = make_jpeg(100, 80, 10);
	struct archive *a = arc_open(t.arc, TAR);
	arc_file(a, "b.jpg", j);
	arc_file(a, "a.jpg", j);
	arc_file(a, "c.jpg", k);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 2);
		CHECK_INT(t.r->duplicates, 1);
		CHECK_STR(t.r->images[0].entry, "a.jpg");
		CHECK(contains(reason_of(t.r, "b.jpg"), "duplicate of 'a.jpg'"));
		cJSON *js = calib_result_json(t.r);
		cJSON *st = cJSON_GetObjectItem(js, "stats");
		CHECK_INT(cJSON_GetObjectItem(st, "duplicates")->valueint, 1);
		CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "width"), "median")->valueint, 100);
		cJSON_Delete(js);
		check_nothing_outside(&t);
	}
	free(j.p);
	free(k.p);
	run_free(&t);
}

/* --- tests: what is dropped ----------------------------------------------------------- */

static void ingest__drops_path_traversal_and_absolute_names(void)
{
	struct run t;
	run_init(&t, "trav.tar");
	struct buf j = make_jpeg(32, 32, 4), ok = make_jpeg(32, 32, 5);
	struct archive *a = arc_open(t.arc, TAR);
	arc_file(a, "../../x.jpg", j);
	arc_file(a, "/etc/x.jpg", j);
	arc_file(a, "a/../../x.jpg", j);
	arc_file(a, "..\\..\\x.jpg", j);
	arc_file(a, "C:/x.jpg", j);
	arc_file(a, "./fine/ok.jpg", ok);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 1);
		CHECK(contains(reason_of(t.r, "../../x.jpg"), ".."));
		CHECK(contains(reason_of(t.r, "/etc/x.jpg"), "absolute"));
		CHECK(contains(reason_of(t.r, "a/../../x.jpg"), ".."));
		CHECK(contains(reason_of(t.r, "..\\..\\x.jpg"), ".."));
		CHECK(contains(reason_of(t.r, "C:/x.jpg"), "absolute"));
		check_nothing_outside(&t);
	}
	free(j.p);
	free(ok.p);
	run_free(&t);
}

static void ingest__drops_symlink_and_the_file_through_it(void)
{
	struct run t;
	run_init(&t, "link.tar");
	struct buf j = make_jpeg(32, 32, 6), ok = make_jpeg(32, 32, 7);
	struct archive *a = arc_open(t.arc, TAR);
	arc_add(a, "d", AE_IFLNK, NULL, 0, "/tmp");
	arc_file(a, "d/x.jpg", j);
	arc_file(a, "./d/sub/x.jpg", j);
	arc_file(a, "dd/ok.jpg", ok);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 1);
		CHECK(contains(reason_of(t.r, "d"), "symbolic link"));
		CHECK(contains(reason_of(t.r, "d/x.jpg"), "through the symbolic link 'd'"));
		CHECK(contains(reason_of(t.r, "./d/sub/x.jpg"), "through the symbolic link"));
		check_nothing_outside(&t);
	}
	free(j.p);
	free(ok.p);
	run_free(&t);
}

static void ingest__drops_hardlink_to_etc_passwd(void)
{
	struct run t;
	run_init(&t, "hard.tar");
	struct buf ok = make_jpeg(32, 32, 8);
	struct archive *a = arc_open(t.arc, TAR);
	arc_add(a, "passwd.jpg", AE_IFREG, NULL, 0, "/etc/passwd");
	arc_file(a, "ok.jpg", ok);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 1);
		CHECK(contains(reason_of(t.r, "passwd.jpg"), "hard link"));
		check_nothing_outside(&t);
	}
	free(ok.p);
	run_free(&t);
}

static void ingest__skips_dirs_and_drops_devices_hidden_and_system_files(void)
{
	struct run t;
	run_init(&t, "misc.tar");
	struct buf j = make_jpeg(32, 32, 11), ok = make_jpeg(32, 32, 12);
	struct archive *a = arc_open(t.arc, TAR);
	arc_add(a, "imgs/", AE_IFDIR, NULL, 0, NULL);
	arc_add(a, "imgs/tty", AE_IFCHR, NULL, 0, NULL);
	arc_add(a, "imgs/pipe", AE_IFIFO, NULL, 0, NULL);
	arc_file(a, "imgs/.DS_Store", j);
	arc_file(a, "__MACOSX/imgs/._a.jpg", j);
	arc_file(a, "imgs/Thumbs.db", j);
	arc_file(a, "imgs/.hidden.jpg", j);
	arc_file(a, "imgs/a.jpg", ok);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 1);
		/* the folder is not listed: only what could have been an image */
		CHECK_INT(t.r->n_rejected, 6);
		CHECK(reason_of(t.r, "imgs/") == NULL);
		CHECK(contains(reason_of(t.r, "imgs/tty"), "device"));
		CHECK(contains(reason_of(t.r, "imgs/pipe"), "fifo"));
		CHECK(contains(reason_of(t.r, "imgs/.DS_Store"), "hidden"));
		CHECK(contains(reason_of(t.r, "__MACOSX/imgs/._a.jpg"), "hidden") ||
		      contains(reason_of(t.r, "__MACOSX/imgs/._a.jpg"), "system"));
		CHECK(contains(reason_of(t.r, "imgs/Thumbs.db"), "system"));
		CHECK(contains(reason_of(t.r, "imgs/.hidden.jpg"), "hidden"));
		check_nothing_outside(&t);
	}
	free(j.p);
	free(ok.p);
	run_free(&t);
}

static void ingest__drops_bad_images_with_a_reason_each(void)
{
	struct run t;
	run_init(&t, "bad.tar.gz");
	struct archive *a = arc_open(t.arc, TGZ);
	/* text named .jpg */
	struct buf txt = { (unsigned char *)"hello, I am not a picture\n", 26 };
	arc_file(a, "text.jpg", txt);
	/* a JPEG cut at 60% */
	struct buf j = make_jpeg(200, 150, 13);
	struct buf cut = { j.p, j.n * 6 / 10 };
	arc_file(a, "cut.jpg", cut);
	/* a JPEG whose header declares 65535x65535 */
	struct buf big = make_jpeg(16, 16, 14);
	for (size_t i = 0; i + 8 < big.n; i++) {
		if (big.p[i] == 0xFF && big.p[i + 1] == 0xC0) {
			memset(big.p + i + 5, 0xFF, 4);
			break;
		}
	}
	arc_file(a, "huge.jpg", big);
	/* a PNG with a bad CRC on its image data */
	struct buf p = make_png(40, 40, PNG_COLOR_TYPE_RGB, 8);
	for (size_t i = 8; i + 8 < p.n; i++) {
		if (memcmp(p.p + i + 4, "IDAT", 4) == 0) {
			uint32_t len = (uint32_t)p.p[i] << 24 | p.p[i + 1] << 16 | p.p[i + 2] << 8 | p.p[i + 3];
			p.p[i + 8 + len] ^= 0x55;
			break;
		}
	}
	arc_file(a, "badcrc.png", p);
	/* too small */
	struct buf tiny = make_jpeg(8, 8, 15);
	arc_file(a, "tiny.jpg", tiny);
	/* the real truncated JPEG python3-skimage ships */
	struct buf sk = read_buf(SKIMAGE "/truncated.jpg");
	if (sk.p)
		arc_file(a, "truncated.jpg", sk);
	struct buf ok = make_jpeg(64, 64, 16);
	arc_file(a, "ok.jpg", ok);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 1);
		CHECK(contains(reason_of(t.r, "text.jpg"), "not a JPEG or PNG"));
		CHECKF(contains(reason_of(t.r, "cut.jpg"), "truncated"), "%s", reason_of(t.r, "cut.jpg"));
		CHECKF(contains(reason_of(t.r, "huge.jpg"), "65535x65535"), "%s",
		       reason_of(t.r, "huge.jpg"));
		CHECKF(contains(reason_of(t.r, "badcrc.png"), "CRC"), "%s", reason_of(t.r, "badcrc.png"));
		CHECK(contains(reason_of(t.r, "tiny.jpg"), "smaller than 16x16"));
		if (sk.p)
			CHECKF(contains(reason_of(t.r, "truncated.jpg"), "truncated"), "%s",
			       reason_of(t.r, "truncated.jpg"));
		/* 65535x65535 is refused from the header (the reason says so): no
		 * 12 GB allocation.  Time is not asserted: make bench measures. */
		check_nothing_outside(&t);
	}
	free(j.p);
	free(big.p);
	free(p.p);
	free(tiny.p);
	free(sk.p);
	free(ok.p);
	run_free(&t);
}

static void ingest__no_usable_image_is_unprocessable(void)
{
	struct run t;
	run_init(&t, "none.zip");
	struct archive *a = arc_open(t.arc, ZIP);
	struct buf txt = { (unsigned char *)"readme", 6 };
	arc_file(a, "README.txt", txt);
	arc_add(a, "empty/", AE_IFDIR, NULL, 0, NULL);
	arc_close(a);
	CHECK_INT(run_ingest(&t, NULL), KILN_EUNPROC);
	CHECK_STR(t.err.field, "images");
	if (CHECK(t.r != NULL))
		CHECK_INT(t.r->n_rejected, 1);  /* README.txt; the folder is not an entry to reject */
	check_nothing_outside(&t);
	run_free(&t);
}

/* A progressive JPEG whose last scan is repeated 600 times: libjpeg would
 * decode every one; TJFLAG_LIMITSCANS stops it at 500, quickly. */
static void ingest__drops_progressive_jpeg_with_too_many_scans(void)
{
	struct run t;
	run_init(&t, "scans.tar");
	unsigned char *px = pattern(64, 64, 60);
	struct buf p = jpeg_of(px, 64, 64, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE);
	size_t last = 0;
	for (size_t i = 0; i + 1 < p.n; i++)
		if (p.p[i] == 0xFF && p.p[i + 1] == 0xDA)
			last = i;
	size_t scan = p.n - 2 - last;   /* the last SOS up to EOI */
	int copies = 600;
	struct buf b = { malloc(p.n + scan * copies), 0 };
	memcpy(b.p, p.p, p.n - 2);
	b.n = p.n - 2;
	for (int i = 0; i < copies; i++) {
		memcpy(b.p + b.n, p.p + last, scan);
		b.n += scan;
	}
	memcpy(b.p + b.n, "\xFF\xD9", 2);
	b.n += 2;
	struct buf ok = make_jpeg(32, 32, 61);
	struct archive *a = arc_open(t.arc, TAR);
	arc_file(a, "scans.jpg", b);
	arc_file(a, "ok.jpg", ok);
	arc_close(a);
	if (CHECKF(run_ingest(&t, NULL) == 0, "%s", t.err.msg)) {
		CHECK_INT(t.r->n_images, 1);
		CHECKF(contains(reason_of(t.r, "scans.jpg"), "scans") ||
		       contains(reason_of(t.r, "scans.jpg"), "corrupt"), "%s",
		       reason_of(t.r, "scans.jpg"));
	}
	free(px);
	free(p.p);
	free(b.p);
	free(ok.p);
	run_free(&t);
}

/* --- tests: archives refused as a whole -------------------------------------------------- */

/* A ustar header written by hand, for streams libarchive would not write. */
static void tar_header(unsigned char h[512], const char *name, uint64_t size)
{
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

/* One gzip member holding a tar entry of `size` zero bytes (its header and
 * data); the file repeats it `times` times.  Concatenated members are one
 * gzip stream to every reader, so this inflates to times x size. */
static void write_gzip_bomb(const char *path, uint64_t size, int times)
{
	struct archive *a = archive_write_new();
	archive_write_add_filter_gzip(a);
	archive_write_set_format_raw(a);
	archive_write_set_bytes_in_last_block(a, 1);
	size_t cap = 1 << 20;
	unsigned char *mem = malloc(cap + (8 << 20));
	size_t used = 0;
	archive_write_open_memory(a, mem, cap + (8 << 20), &used);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "raw");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_write_header(a, e);
	archive_entry_free(e);
	unsigned char h[512];
	tar_header(h, "zeros.bin", size);
	archive_write_data(a, h, 512);
	unsigned char *z = calloc(1, cap);
	for (uint64_t done = 0; done < size; done += cap)
		archive_write_data(a, z, size - done < cap ? (size_t)(size - done) : cap);
	archive_write_close(a);
	archive_write_free(a);
	FILE *f = fopen(path, "wb");
	for (int i = 0; i < times; i++)
		fwrite(mem, 1, used, f);
	fclose(f);
	free(z);
	free(mem);
}

static void ingest__refuses_gzip_bomb_early(void)
{
	struct run t;
	run_init(&t, "bomb.tar.gz");
	/* 100 entries of 100 MiB: 10 GiB of zeros in about 10 MB */
	write_gzip_bomb(t.arc, 100ull << 20, 100);
	CHECK_INT(run_ingest(&t, NULL), KILN_ETOOBIG);
	CHECKF(strcmp(t.err.field, "max_ratio") == 0, "field %s: %s", t.err.field, t.err.msg);
	/* stopped early: the work done is counted, not timed (a loaded CI
	 * machine is slow, never wrong) */
	CHECKF(t.r && t.r->bytes < (100ull << 20), "inflated %llu bytes of 10 GiB",
	       t.r ? (unsigned long long)t.r->bytes : 0ull);
	CHECK(t.r && !t.r->complete);
	/* With the ratio bound off, the total-bytes bound stops it: one block
	 * past 256 MiB, so the time is 256 MiB of inflate plus nothing. */
	calib_result_free(t.r);
	t.r = NULL;
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.max_ratio = 0;
	lim.total_bytes = 256ull << 20;
	CHECK_INT(run_ingest(&t, &lim), KILN_ETOOBIG);
	CHECK_STR(t.err.field, "total_bytes");
	CHECKF(t.r && t.r->bytes < (256ull << 20) + (1 << 20), "read %llu bytes",
	       t.r ? (unsigned long long)t.r->bytes : 0ull);
	check_nothing_outside(&t);
	run_free(&t);
}

static void ingest__refuses_oversized_entry_from_its_header(void)
{
	struct run t;
	run_init(&t, "one.tar.gz");
	write_gzip_bomb(t.arc, 200ull << 20, 1);   /* one 200 MiB entry > 128 MiB */
	CHECK_INT(run_ingest(&t, NULL), KILN_ETOOBIG);
	CHECK_STR(t.err.field, "entry_bytes");
	/* from the header: none of the 200 MiB is inflated */
	CHECKF(t.r == NULL || t.r->bytes < (1u << 20), "inflated %llu bytes",
	       t.r ? (unsigned long long)t.r->bytes : 0ull);
	run_free(&t);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	put_le16(p, v & 0xFFFF);
	put_le16(p + 2, v >> 16);
}

/* A zip of `copies` entries named k0000, k0001... each 64 MiB of zeros
 * deflated, from one real entry libarchive writes.  overlap: one local
 * record, every central-directory entry pointing at it (the "better zip
 * bomb" trick); else: the record copied `copies` times, a plain bomb. */
static void write_zip_bomb(const char *path, int copies, int overlap)
{
	size_t cap = 4 << 20, used = 0;
	unsigned char *mem = malloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_open_memory(a, mem, cap, &used);
	size_t size = 64u << 20;
	unsigned char *z = calloc(1, size);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "k0000");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_write_header(a, e);
	archive_write_data(a, z, size);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	free(z);
	size_t eocd = used - 22;
	while (eocd > 0 && le32(mem + eocd) != 0x06054b50)
		eocd--;
	uint32_t cd_off = le32(mem + eocd + 16), cd_size = le32(mem + eocd + 12);
	FILE *f = fopen(path, "wb");
	char name[16];
	/* Written in pieces around the patched fields: the local header's
	 * name is at 30, the central entry's offset at 42 and name at 46. */
	for (int i = 0; i < (overlap ? 1 : copies); i++) {
		snprintf(name, sizeof(name), "k%04d", i % 10000);
		fwrite(mem, 1, 30, f);
		fwrite(name, 1, 5, f);
		fwrite(mem + 35, 1, cd_off - 35, f);
	}
	uint32_t cd_at = overlap ? cd_off : cd_off * (uint32_t)copies;
	for (int i = 0; i < copies; i++) {
		unsigned char at[4];
		put_le32(at, overlap ? 0 : cd_off * (uint32_t)i);
		snprintf(name, sizeof(name), "k%04d", i % 10000);
		fwrite(mem + cd_off, 1, 42, f);
		fwrite(at, 1, 4, f);
		fwrite(name, 1, 5, f);
		fwrite(mem + cd_off + 51, 1, cd_size - 51, f);
	}
	unsigned char end[22];
	memcpy(end, mem + eocd, 22);
	put_le16(end + 8, (unsigned)copies);
	put_le16(end + 10, (unsigned)copies);
	put_le32(end + 12, cd_size * (uint32_t)copies);
	put_le32(end + 16, cd_at);
	fwrite(end, 1, 22, f);
	fclose(f);
	free(mem);
}

static void ingest__refuses_zip_bomb_with_overlapping_entries(void)
{
	struct run t;
	run_init(&t, "overlap.zip");
	/* 1000 entries sharing one 64 MiB record: 64 GiB from ~130 KB.
	 * libarchive reads a zip by its central directory and keeps one entry
	 * per local header offset, so the shared record is inflated once, not
	 * 1000 times; what is left is an archive with no image. */
	write_zip_bomb(t.arc, 1000, 1);
	int rc = run_ingest(&t, NULL);
	CHECKF(rc == KILN_ETOOBIG || rc == KILN_EUNPROC, "rc %d: %s", rc, t.err.msg);
	CHECKF(t.r && t.r->bytes <= (64u << 20), "inflated %llu bytes",
	       t.r ? (unsigned long long)t.r->bytes : 0ull);
	check_nothing_outside(&t);
	run_free(&t);
	/* 200 entries as separate records: 12.5 GiB from ~26 MB, a plain
	 * bomb; the ratio bound stops it after 64 MiB. */
	run_init(&t, "plain.zip");
	write_zip_bomb(t.arc, 200, 0);
	CHECK_INT(run_ingest(&t, NULL), KILN_ETOOBIG);
	CHECKF(strcmp(t.err.field, "max_ratio") == 0, "%s: %s", t.err.field, t.err.msg);
	CHECKF(t.r && t.r->bytes < (100ull << 20), "inflated %llu bytes of 12.5 GiB",
	       t.r ? (unsigned long long)t.r->bytes : 0ull);
	check_nothing_outside(&t);
	run_free(&t);
}

static void ingest__refuses_200000_empty_entries(void)
{
	struct run t;
	run_init(&t, "many.tar.gz");
	struct archive *a = arc_open(t.arc, TGZ);
	char name[32];
	for (int i = 0; i < 200000; i++) {
		snprintf(name, sizeof(name), "e%06d", i);
		arc_add(a, name, AE_IFREG, NULL, 0, NULL);
	}
	arc_close(a);
	CHECK_INT(run_ingest(&t, NULL), KILN_ETOOBIG);
	CHECK_STR(t.err.field, "entries");
	check_nothing_outside(&t);
	run_free(&t);
}

static void ingest__refuses_tar_with_corrupt_header_half_way(void)
{
	struct run t;
	run_init(&t, "corrupt.tar");
	struct archive *a = arc_open(t.arc, TAR);
	struct buf imgs[4];
	char name[32];
	for (int i = 0; i < 4; i++) {
		imgs[i] = make_jpeg(40, 40, 20 + (unsigned)i);
		snprintf(name, sizeof(name), "img%d.jpg", i);
		arc_file(a, name, imgs[i]);
	}
	arc_close(a);
	size_t n;
	unsigned char *tar = (unsigned char *)kt_read_file(t.arc, &n);
	/* Break the checksum of the third header (found by its name). */
	int hit = 0;
	for (size_t off = 0; off + 512 <= n; off += 512) {
		if (memcmp(tar + off, "img2.jpg", 8) == 0) {
			tar[off + 148] ^= 0x07;
			hit = 1;
			break;
		}
	}
	CHECK(hit);
	kt_write_file(t.arc, tar, n);
	free(tar);
	CHECK_INT(run_ingest(&t, NULL), KILN_EUNPROC);
	CHECK_STR(t.err.field, "archive");
	CHECKF(contains(t.err.msg, "img1.jpg"), "%s", t.err.msg);
	if (CHECK(t.r != NULL)) {
		CHECK(!t.r->complete);
		CHECK_INT(t.r->n_images, 0);
		CHECK(t.r->n_seen == 2 && strcmp(t.r->seen[1], "img1.jpg") == 0);
		cJSON *j = calib_result_json(t.r);
		CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "entries_before_error")), 2);
		cJSON_Delete(j);
	}
	/* Refused as a whole: nothing stored. */
	check_nothing_outside(&t);
	for (int i = 0; i < 4; i++)
		free(imgs[i].p);
	run_free(&t);
}

static void ingest__refuses_an_upload_cut_off_half_way(void)
{
	struct run t;
	run_init(&t, "cut.tar.gz");
	struct archive *a = arc_open(t.arc, TGZ);
	struct buf imgs[6];
	char name[32];
	for (int i = 0; i < 6; i++) {
		imgs[i] = make_jpeg(120, 90, 30 + (unsigned)i);
		snprintf(name, sizeof(name), "img%d.jpg", i);
		arc_file(a, name, imgs[i]);
	}
	arc_close(a);
	struct stat st;
	stat(t.arc, &st);
	CHECK(truncate(t.arc, st.st_size / 2) == 0);
	CHECK_INT(run_ingest(&t, NULL), KILN_EUNPROC);
	CHECK_STR(t.err.field, "archive");
	check_nothing_outside(&t);
	for (int i = 0; i < 6; i++)
		free(imgs[i].p);
	run_free(&t);
}

static void ingest__refuses_what_is_not_an_archive(void)
{
	struct run t;
	run_init(&t, "photo.jpg");
	struct buf j = make_jpeg(64, 64, 40);
	kt_write_file(t.arc, j.p, j.n);
	CHECK_INT(run_ingest(&t, NULL), KILN_EUNPROC);
	CHECK_STR(t.err.field, "archive");
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.archive_bytes = 100;
	calib_result_free(t.r);
	t.r = NULL;
	CHECK_INT(run_ingest(&t, &lim), KILN_ETOOBIG);
	CHECK_STR(t.err.field, "archive_bytes");
	free(j.p);
	run_free(&t);
}

/* --- exports ------------------------------------------------------------------------------ */

/* Ingests five generated images and returns their hashes (static). */
static const char *const *five_images(struct run *t, size_t *n)
{
	static char shas[5][65];
	static const char *ptrs[5];
	run_init(t, "five.tar");
	struct archive *a = arc_open(t->arc, TAR);
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "i%d.jpg", i);
		struct buf b = make_jpeg(200 + (unsigned)i * 10, 100, 50 + (unsigned)i);
		arc_file(a, name, b);
		free(b.p);
	}
	arc_close(a);
	*n = 0;
	if (run_ingest(t, NULL) != 0)
		return NULL;
	for (size_t i = 0; i < t->r->n_images; i++) {
		memcpy(shas[i], t->r->images[i].sha256, 65);
		ptrs[i] = shas[i];
	}
	*n = t->r->n_images;
	return ptrs;
}

static void materialize__samples_the_same_images_for_the_same_seed(void)
{
	struct run t;
	size_t n;
	const char *const *shas = five_images(&t, &n);
	if (!CHECK_INT(n, 5))
		goto out;
	struct calib_export o;
	calib_export_default(&o);
	o.count = 3;
	o.seed = 42;
	char d1[400], d2[400], d3[400];
	snprintf(d1, sizeof(d1), "%s/out1", t.dir);
	snprintf(d2, sizeof(d2), "%s/out2", t.dir);
	snprintf(d3, sizeof(d3), "%s/out3", t.dir);
	size_t w = 0;
	struct kiln_err e;
	CHECKF(calib_materialize(t.bs, shas, n, &o, d1, &w, &e) == 0, "%s", e.msg);
	CHECK_INT(w, 3);
	CHECK(calib_materialize(t.bs, shas, n, &o, d2, &w, &e) == 0);
	CHECK_INT(count_files(d1), 3);
	/* same seed: same names (which include the hashes) */
	DIR *dd = opendir(d1);
	struct dirent *de;
	while (dd && (de = readdir(dd)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[900];
		snprintf(p, sizeof(p), "%s/%s", d2, de->d_name);
		CHECKF(access(p, F_OK) == 0, "%s only in the first export", de->d_name);
	}
	if (dd)
		closedir(dd);
	/* count larger than the set: all of it */
	o.count = 50;
	CHECK(calib_materialize(t.bs, shas, n, &o, d3, &w, &e) == 0 && w == 5);
out:
	run_free(&t);
}

static void materialize__writes_a_tar_of_letterboxed_npy_tensors(void)
{
	struct run t;
	size_t n;
	const char *const *shas = five_images(&t, &n);
	if (!CHECK_INT(n, 5))
		goto out;
	struct calib_export o;
	calib_export_default(&o);
	o.layout = CALIB_TAR;
	o.count = 2;
	o.seed = 7;
	o.fit = CALIB_FIT_LETTERBOX;
	o.width = 64;
	o.height = 48;
	o.npy = 1;
	char tar[400];
	snprintf(tar, sizeof(tar), "%s/calib.tar", t.dir);
	struct kiln_err e;
	size_t w;
	if (!CHECKF(calib_materialize(t.bs, shas, n, &o, tar, &w, &e) == 0, "%s", e.msg))
		goto out;
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	CHECK(archive_read_open_filename(a, tar, 4096) == ARCHIVE_OK);
	struct archive_entry *en;
	int count = 0;
	while (archive_read_next_header(a, &en) == ARCHIVE_OK) {
		count++;
		CHECK(strstr(archive_entry_pathname(en), ".npy") != NULL);
		unsigned char head[132];
		CHECK(archive_read_data(a, head, sizeof(head)) == (la_ssize_t)sizeof(head));
		CHECK(memcmp(head, "\x93NUMPY", 6) == 0);
		CHECK(strstr((char *)head + 10, "'shape': (1, 3, 48, 64)") != NULL);
		CHECK_INT(archive_entry_size(en), 128 + 64 * 48 * 3 * 4);
		/* first value: top-left corner, a letterbox border: 114/255 */
		float v;
		memcpy(&v, head + 128, 4);
		CHECKF(v > 114 / 255.0f - 1e-4f && v < 114 / 255.0f + 1e-4f, "first value %f", v);
		archive_read_data_skip(a);
	}
	archive_read_free(a);
	CHECK_INT(count, 2);
out:
	run_free(&t);
}

static void contact_sheet__is_a_jpeg_of_the_right_size(void)
{
	struct run t;
	size_t n;
	const char *const *shas = five_images(&t, &n);
	if (!CHECK_INT(n, 5))
		goto out;
	unsigned char *jpeg = NULL;
	size_t len = 0;
	struct kiln_err e;
	if (!CHECKF(calib_contact_sheet(t.bs, shas, n, 100, &jpeg, &len, &e) == 0, "%s", e.msg))
		goto out;
	tjhandle tj = tjInitDecompress();
	int w, h, ss, cs;
	CHECK(tjDecompressHeader3(tj, jpeg, len, &w, &h, &ss, &cs) == 0);
	CHECK(w == 300 && h == 200);   /* 5 images: 3 columns, 2 rows of 100 */
	tjDestroy(tj);
	free(jpeg);
out:
	run_free(&t);
}

/* fuzz_calib_image's find: 31 bytes declaring a 1 x 1572880 PNG, no IDAT.
 * It is refused from the header, as deflate cannot pack its rows into so
 * few bytes; before, the streaming decoder built its taps for 1.5 M rows
 * first (3 s under the fuzzer). */
static void probe__refuses_a_png_too_small_for_its_size(void)
{
	static const unsigned char png[31] = {
		0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
		0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x18, 0x00, 0x10, 0x08, 0x00, 0x00, 0xe0,
		0x00, 0x10, 0x4a};
	struct calib_img_dec *d;
	struct kiln_err e;
	if (!CHECK(calib_img_dec_new(&d, &e) == 0))
		return;
	struct calib_img_limits lim = { 4000000, 1 };
	struct calib_img_info info;
	CHECK_INT(calib_img_probe(d, png, sizeof(png), &lim, &info, &e), KILN_EUNPROC);
	CHECKF(contains(e.msg, "truncated PNG"), "%s", e.msg);
	calib_img_dec_free(d);
}

static void letterbox__centres_the_image_and_pads_the_rest(void)
{
	struct calib_img_dec *d;
	struct kiln_err e;
	if (!CHECK(calib_img_dec_new(&d, &e) == 0))
		return;
	unsigned char *px = malloc(200 * 100 * 3);
	memset(px, 200, 200 * 100 * 3);
	struct buf j = jpeg_of(px, 200, 100, TJPF_RGB, TJSAMP_444, 0);
	unsigned char *dst = malloc(64 * 64 * 3);
	struct calib_img_limits lim = { 50000000, 16 };
	struct calib_img_place pl;
	CHECKF(calib_img_letterbox(d, j.p, j.n, &lim, 64, 64, 114, dst, &pl, &e) == 0, "%s", e.msg);
	CHECK(pl.x == 0 && pl.y == 16 && pl.width == 64 && pl.height == 32);
	CHECK(dst[0] == 114 && dst[(64 * 63 + 63) * 3] == 114);
	unsigned char c = dst[(64 * 32 + 32) * 3];
	CHECKF(c >= 197 && c <= 203, "centre %u", c);
	/* a small image is enlarged to fill */
	struct buf s = jpeg_of(px, 20, 40, TJPF_RGB, TJSAMP_444, 0);
	CHECK(calib_img_letterbox(d, s.p, s.n, &lim, 64, 64, 0, dst, &pl, &e) == 0);
	CHECK(pl.x == 16 && pl.y == 0 && pl.width == 32 && pl.height == 64);
	free(s.p);
	free(j.p);
	free(px);
	free(dst);
	calib_img_dec_free(d);
}

/* Letterboxes one image at each size with each vector path into out[0..2]
 * and checks the three agree. */
static void same_bytes_on_every_path(struct calib_img_dec *d, const char *name, struct buf b,
				     unsigned char *out[3])
{
	static const unsigned sizes[][2] = { { 640, 640 }, { 317, 211 }, { 97, 61 }, { 1001, 999 } };
	static const enum calib_simd caps[] = { CALIB_SIMD_NONE, CALIB_SIMD_SSE2, CALIB_SIMD_AVX2 };
	struct calib_img_limits lim = { 50000000, 16 };
	struct kiln_err e;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		unsigned w = sizes[z][0], h = sizes[z][1];
		for (size_t c = 0; c < 3; c++) {
			calib_img_simd_cap(caps[c]);
			CHECKF(calib_img_letterbox(d, b.p, b.n, &lim, w, h, 114, out[c], NULL, &e) == 0,
			       "%s: %s", name, e.msg);
		}
		CHECKF(memcmp(out[0], out[1], (size_t)w * h * 3) == 0,
		       "%s at %ux%u: SSE2 differs from scalar", name, w, h);
		CHECKF(memcmp(out[0], out[2], (size_t)w * h * 3) == 0,
		       "%s at %ux%u: AVX2 differs from scalar", name, w, h);
	}
}

/* The resampler's scalar, SSE2 and AVX2 code must give the same bytes: real
 * photos and a 40000x16 strip (a shrink too steep for the AVX2 pairs), at
 * sizes that shrink, enlarge and leave row tails (widths that are not a
 * multiple of 16 or 32 bytes, odd output counts). */
static void letterbox__every_vector_path_gives_the_same_bytes(void)
{
	if (!have_skimage())
		return;
	static const char *files[] = { "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg",
				       "chelsea.png", "coffee.png" };
	if (!__builtin_cpu_supports("avx2"))
		fprintf(stderr, "note: this CPU has no AVX2: the AVX2 cap runs SSE2\n");
	struct calib_img_dec *d;
	struct kiln_err e;
	if (!CHECK(calib_img_dec_new(&d, &e) == 0))
		return;
	unsigned char *out[3];
	for (size_t c = 0; c < 3; c++)
		out[c] = malloc(1001 * 999 * 3);
	enum calib_simd was = calib_img_simd_cap(CALIB_SIMD_AVX2);
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		char path[300];
		snprintf(path, sizeof(path), SKIMAGE "/%s", files[f]);
		struct buf b = read_buf(path);
		same_bytes_on_every_path(d, files[f], b, out);
		free(b.p);
	}
	struct buf strip = make_png(40000, 16, PNG_COLOR_TYPE_RGB, 8);
	same_bytes_on_every_path(d, "a 40000x16 PNG", strip, out);
	free(strip.p);
	calib_img_simd_cap(was);
	for (size_t c = 0; c < 3; c++)
		free(out[c]);
	calib_img_dec_free(d);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{ "letterbox__every_vector_path_gives_the_same_bytes",
		  letterbox__every_vector_path_gives_the_same_bytes },
		{ "probe__refuses_a_png_too_small_for_its_size",
		  probe__refuses_a_png_too_small_for_its_size },
		{ "ingest__keeps_real_photos_normalised_and_sorted",
		  ingest__keeps_real_photos_normalised_and_sorted },
		{ "ingest__reads_tar_tgz_tbz2_txz_zip_to_the_same_set",
		  ingest__reads_tar_tgz_tbz2_txz_zip_to_the_same_set },
		{ "ingest__converts_grey_cmyk_progressive_jpeg_and_16bit_palette_png",
		  ingest__converts_grey_cmyk_progressive_jpeg_and_16bit_palette_png },
		{ "ingest__applies_exif_orientation", ingest__applies_exif_orientation },
		{ "ingest__stores_duplicates_once_and_reports_them",
		  ingest__stores_duplicates_once_and_reports_them },
		{ "ingest__drops_path_traversal_and_absolute_names",
		  ingest__drops_path_traversal_and_absolute_names },
		{ "ingest__drops_symlink_and_the_file_through_it",
		  ingest__drops_symlink_and_the_file_through_it },
		{ "ingest__drops_hardlink_to_etc_passwd", ingest__drops_hardlink_to_etc_passwd },
		{ "ingest__skips_dirs_and_drops_devices_hidden_and_system_files",
		  ingest__skips_dirs_and_drops_devices_hidden_and_system_files },
		{ "ingest__drops_bad_images_with_a_reason_each",
		  ingest__drops_bad_images_with_a_reason_each },
		{ "ingest__no_usable_image_is_unprocessable", ingest__no_usable_image_is_unprocessable },
		{ "ingest__drops_progressive_jpeg_with_too_many_scans",
		  ingest__drops_progressive_jpeg_with_too_many_scans },
		{ "ingest__refuses_gzip_bomb_early", ingest__refuses_gzip_bomb_early },
		{ "ingest__refuses_oversized_entry_from_its_header",
		  ingest__refuses_oversized_entry_from_its_header },
		{ "ingest__refuses_zip_bomb_with_overlapping_entries",
		  ingest__refuses_zip_bomb_with_overlapping_entries },
		{ "ingest__refuses_200000_empty_entries", ingest__refuses_200000_empty_entries },
		{ "ingest__refuses_tar_with_corrupt_header_half_way",
		  ingest__refuses_tar_with_corrupt_header_half_way },
		{ "ingest__refuses_an_upload_cut_off_half_way", ingest__refuses_an_upload_cut_off_half_way },
		{ "ingest__refuses_what_is_not_an_archive", ingest__refuses_what_is_not_an_archive },
		{ "materialize__samples_the_same_images_for_the_same_seed",
		  materialize__samples_the_same_images_for_the_same_seed },
		{ "materialize__writes_a_tar_of_letterboxed_npy_tensors",
		  materialize__writes_a_tar_of_letterboxed_npy_tensors },
		{ "contact_sheet__is_a_jpeg_of_the_right_size", contact_sheet__is_a_jpeg_of_the_right_size },
		{ "letterbox__centres_the_image_and_pads_the_rest",
		  letterbox__centres_the_image_and_pads_the_rest },
	};
	return kt_main("test_calib", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
