/*
 * calib_export: what a stored calibration set turns into (see calib.h).
 *
 * The output half of the calib module, split from calib.c to keep each file
 * about one thing: materialising N sampled images for a toolchain (a
 * directory for TPU-MLIR, a tar for Pulsar2 / pulsar, optionally resized to
 * the model input and written as float32 .npy), the dashboard's contact
 * sheet, and the multi-threaded letterbox preprocessing the benchmark
 * measures.  Reads blobs by hash; every output name is generated here.
 */
#include "conversion/calib.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Normalised images are at most 1024 px JPEGs of a few hundred KB; anything
 * this large in the store under a dataset's hash is not one of ours. */
#define BLOB_READ_CAP (64u << 20)
#define MAX_SIDE 8192
#define SHEET_MAX 64

void calib_export_default(struct calib_export *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->layout = CALIB_DIR;
	opt->fit = CALIB_FIT_NONE;
	opt->pad = 114;
	opt->nchw = 1;
	for (int c = 0; c < 3; c++) {
		opt->mean[c] = 0.0f;
		opt->scale[c] = 1.0f / 255.0f;
	}
}

static int read_fd(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int cmp_size(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	return a < b ? -1 : a > b;
}

/* k of n indexes chosen by a seeded partial Fisher-Yates shuffle, then put
 * back in set order so the output reads like the dataset record.  The
 * generator is splitmix64, defined here, so the same seed picks the same
 * images on every platform and libc. */
static size_t *sample(size_t n, size_t k, uint64_t seed)
{
	size_t *idx = malloc(sizeof(size_t) * (n ? n : 1));
	if (idx == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	uint64_t s = seed;
	for (size_t i = 0; i < k && i + 1 < n; i++) {
		size_t j = i + (size_t)(splitmix(&s) % (n - i));
		size_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	qsort(idx, k, sizeof(size_t), cmp_size);
	return idx;
}

int calib_sample(size_t n, size_t count, uint64_t seed, size_t **idx, size_t *k)
{
	*k = count == 0 || count > n ? n : count;
	*idx = sample(n, *k, seed);
	return *idx ? 0 : -1;
}

size_t calib_first_pick(size_t n, size_t count, uint64_t seed)
{
	if (n == 0)
		return 0;
	size_t k = count == 0 || count > n ? n : count;
	size_t *pick = sample(n, k, seed);
	size_t first = pick ? pick[0] : 0;
	free(pick);
	return first;
}

static void put_f32le(unsigned char *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	p[0] = (unsigned char)u;
	p[1] = (unsigned char)(u >> 8);
	p[2] = (unsigned char)(u >> 16);
	p[3] = (unsigned char)(u >> 24);
}

/* A NumPy v1.0 .npy file of float32, shape (1,3,H,W) or (1,H,W,3). */
static unsigned char *npy_build(const unsigned char *rgb, unsigned w, unsigned h,
				const struct calib_export *o, size_t *len)
{
	char dict[160];
	int dl = o->nchw
		? snprintf(dict, sizeof(dict),
			   "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, %u, %u), }", h, w)
		: snprintf(dict, sizeof(dict),
			   "{'descr': '<f4', 'fortran_order': False, 'shape': (1, %u, %u, 3), }", h, w);
	/* magic(6) + version(2) + header length(2) + dict + spaces + '\n',
	 * padded to 64 bytes as the format asks for aligned data. */
	size_t hl = 10 + (size_t)dl + 1;
	hl = (hl + 63) / 64 * 64;
	size_t px = (size_t)w * h;
	unsigned char *b = malloc(hl + px * 12);
	if (b == NULL)
		return NULL;
	memcpy(b, "\x93NUMPY\x01\x00", 8);
	b[8] = (unsigned char)((hl - 10) & 0xFF);
	b[9] = (unsigned char)((hl - 10) >> 8);
	memcpy(b + 10, dict, (size_t)dl);
	memset(b + 10 + dl, ' ', hl - 10 - (size_t)dl - 1);
	b[hl - 1] = '\n';
	unsigned char *f = b + hl;
	for (size_t i = 0; i < px; i++) {
		for (int c = 0; c < 3; c++) {
			int src = o->bgr ? 2 - c : c;
			float v = ((float)rgb[3 * i + src] - o->mean[c]) * o->scale[c];
			size_t at = o->nchw ? (size_t)c * px + i : 3 * i + (size_t)c;
			put_f32le(f + 4 * at, v);
		}
	}
	*len = hl + px * 12;
	return b;
}

/* Where materialised files go: a directory or a tar being written. */
struct sink_out {
	const struct calib_export *opt;
	int dirfd;
	struct archive *tar;
	int tarfd;
	char tmp[4096];
};

static int out_write(struct sink_out *s, const char *name, const void *buf, size_t len,
		     struct kiln_err *err)
{
	if (s->tar) {
		struct archive_entry *e = archive_entry_new();
		if (e == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		archive_entry_set_pathname(e, name);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_mtime(e, 0, 0);   /* same set, same tar bytes */
		int r = archive_write_header(s->tar, e);
		archive_entry_free(e);
		if (r != ARCHIVE_OK || archive_write_data(s->tar, buf, len) != (la_ssize_t)len)
			return kiln_errf(err, KILN_EIO, "", "cannot write the tar: %s",
					 archive_error_string(s->tar));
		return 0;
	}
	/* No fsync: a materialised set lives in a job workspace and is made
	 * again if the job is retried, so durability buys nothing here. */
	int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", name, strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", name, strerror(e));
		}
		off += (size_t)w;
	}
	if (close(fd) != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", name, strerror(errno));
	return 0;
}

static int out_open(struct sink_out *s, const char *dest, struct kiln_err *err)
{
	s->dirfd = -1;
	s->tarfd = -1;
	if (s->opt->layout == CALIB_DIR) {
		if (mkdir(dest, 0755) != 0 && errno != EEXIST)
			return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", dest, strerror(errno));
		s->dirfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s->dirfd < 0)
			return kiln_errf(err, KILN_EIO, "", "cannot open directory %s: %s", dest,
					 strerror(errno));
		return 0;
	}
	int n = snprintf(s->tmp, sizeof(s->tmp), "%s.tmp.XXXXXX", dest);
	if (n < 0 || (size_t)n >= sizeof(s->tmp))
		return kiln_errf(err, KILN_EINVAL, "", "destination path too long");
	s->tarfd = mkstemp(s->tmp);
	if (s->tarfd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", s->tmp, strerror(errno));
	s->tar = archive_write_new();
	if (s->tar == NULL || archive_write_set_format_ustar(s->tar) != ARCHIVE_OK ||
	    archive_write_open_fd(s->tar, s->tarfd) != ARCHIVE_OK)
		return kiln_errf(err, KILN_EIO, "", "cannot start the tar: %s",
				 s->tar ? archive_error_string(s->tar) : "out of memory");
	return 0;
}

/* Finishes (ok) or discards the output. */
static int out_close(struct sink_out *s, const char *dest, int ok, struct kiln_err *err)
{
	int rc = 0;
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->tar) {
		if (archive_write_close(s->tar) != ARCHIVE_OK && ok)
			rc = kiln_errf(err, KILN_EIO, "", "cannot finish the tar: %s",
				       archive_error_string(s->tar));
		archive_write_free(s->tar);
	}
	if (s->tarfd >= 0) {
		if (ok && rc == 0 && fsync(s->tarfd) != 0)
			rc = kiln_errf(err, KILN_EIO, "", "cannot fsync %s: %s", s->tmp, strerror(errno));
		close(s->tarfd);
		if (ok && rc == 0 && rename(s->tmp, dest) != 0)
			rc = kiln_errf(err, KILN_EIO, "", "cannot rename to %s: %s", dest, strerror(errno));
		if (!ok || rc != 0)
			unlink(s->tmp);
	}
	return rc;
}

/* One image of the export: pixels as asked, encoded as asked. */
static int export_one(struct calib_img_dec *d, const unsigned char *data, size_t len,
		      const struct calib_export *o, unsigned char *px, unsigned char **out,
		      size_t *olen, struct kiln_err *err)
{
	struct calib_img_limits lim = { 50000000, 1 };
	unsigned w = o->width, h = o->height;
	struct calib_img img = { 0 };
	const unsigned char *rgb = px;
	int rc;
	if (o->fit == CALIB_FIT_LETTERBOX) {
		rc = calib_img_letterbox(d, data, len, &lim, w, h, o->pad, px, NULL, err);
	} else if (o->fit == CALIB_FIT_STRETCH) {
		rc = calib_img_stretch(d, data, len, &lim, w, h, px, err);
	} else {
		struct calib_img_info info;
		rc = calib_img_probe(d, data, len, &lim, &info, err);
		if (rc == 0)
			rc = calib_img_fit(d, data, len, &info, UINT32_MAX, UINT32_MAX, &img, err);
		rgb = img.rgb;
		w = img.width;
		h = img.height;
	}
	if (rc == 0 && o->npy) {
		*out = npy_build(rgb, w, h, o, olen);
		if (*out == NULL)
			rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	} else if (rc == 0) {
		rc = calib_img_encode_jpeg(d, rgb, w, h, 95, out, olen, err);
	}
	free(img.rgb);
	return rc;
}

int calib_materialize(struct blob_store *bs, const char *const *sha256, size_t n,
		      const struct calib_export *opt, const char *dest, size_t *written,
		      struct kiln_err *err)
{
	if (opt->fit != CALIB_FIT_NONE &&
	    (opt->width == 0 || opt->height == 0 || opt->width > MAX_SIDE || opt->height > MAX_SIDE))
		return kiln_errf(err, KILN_EINVAL, "input_size",
				 "model input size %ux%u: both sides must be 1..%u", opt->width,
				 opt->height, MAX_SIDE);
	if (n == 0)
		return kiln_errf(err, KILN_EUNPROC, "dataset", "the dataset has no images");
	for (size_t i = 0; i < n; i++)
		if (!blob_hex_valid(sha256[i]))
			return kiln_errf(err, KILN_EINVAL, "dataset", "image %zu: not a sha256 hash", i);
	size_t k = opt->count == 0 || opt->count > n ? n : opt->count;
	size_t *pick = sample(n, k, opt->seed);
	struct calib_img_dec *d = NULL;
	unsigned char *px = NULL;
	struct sink_out s = { .opt = opt, .dirfd = -1, .tarfd = -1 };
	int rc = pick ? 0 : kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (rc == 0)
		rc = calib_img_dec_new(&d, err);
	if (rc == 0 && opt->fit != CALIB_FIT_NONE) {
		px = malloc((size_t)opt->width * opt->height * 3);
		if (px == NULL)
			rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	int opened = 0;
	if (rc == 0) {
		/* out_close() also cleans up after a half-done out_open() */
		opened = 1;
		rc = out_open(&s, dest, err);
	}
	for (size_t i = 0; rc == 0 && i < k; i++) {
		const char *sha = sha256[pick[i]];
		unsigned char *data = NULL, *enc = NULL;
		size_t dlen = 0, elen = 0;
		rc = blob_read(bs, sha, BLOB_READ_CAP, &data, &dlen, err);
		int raw = rc == 0 && !opt->npy && opt->fit == CALIB_FIT_NONE;
		if (rc == 0 && !raw)
			rc = export_one(d, data, dlen, opt, px, &enc, &elen, err);
		char name[64];
		snprintf(name, sizeof(name), "%05zu_%.16s.%s", i, sha, opt->npy ? "npy" : "jpg");
		if (rc == 0)
			rc = out_write(&s, name, raw ? data : enc, raw ? dlen : elen, err);
		free(data);
		free(enc);
	}
	if (opened) {
		int crc = out_close(&s, dest, rc == 0, err);
		if (rc == 0)
			rc = crc;
	}
	if (rc == 0 && written)
		*written = k;
	free(px);
	free(pick);
	calib_img_dec_free(d);
	return rc;
}

int calib_contact_sheet(struct blob_store *bs, const char *const *sha256, size_t n,
			unsigned cell, unsigned char **jpeg, size_t *len, struct kiln_err *err)
{
	if (cell == 0)
		cell = 128;
	if (cell < 16 || cell > 512)
		return kiln_errf(err, KILN_EINVAL, "cell", "cell size must be 16..512");
	if (n == 0)
		return kiln_errf(err, KILN_EUNPROC, "dataset", "the dataset has no images");
	size_t k = n < SHEET_MAX ? n : SHEET_MAX;
	unsigned cols = (unsigned)ceil(sqrt((double)k));
	unsigned rows = (unsigned)((k + cols - 1) / cols);
	unsigned W = cols * cell, H = rows * cell, inner = cell - 4;
	size_t stride = (size_t)W * 3;
	unsigned char *canvas = malloc(stride * H);
	unsigned char *thumb = malloc((size_t)inner * inner * 3);
	struct calib_img_dec *d = NULL;
	int rc = canvas && thumb ? calib_img_dec_new(&d, err)
				 : kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	const unsigned char bg = 32;   /* the dashboard's dark background */
	struct calib_img_limits lim = { 50000000, 1 };
	if (rc == 0)
		memset(canvas, bg, stride * H);
	for (size_t i = 0; rc == 0 && i < k; i++) {
		/* Evenly spaced through the set, so a big set is represented whole. */
		size_t at = i * n / k;
		unsigned char *data = NULL;
		size_t dlen = 0;
		struct kiln_err e = { 0 };
		if (!blob_hex_valid(sha256[at]) || blob_read(bs, sha256[at], BLOB_READ_CAP, &data, &dlen, &e) != 0)
			continue;   /* a missing thumbnail leaves its cell empty */
		if (calib_img_letterbox(d, data, dlen, &lim, inner, inner, bg, thumb, NULL, &e) == 0) {
			unsigned x0 = (unsigned)(i % cols) * cell + 2, y0 = (unsigned)(i / cols) * cell + 2;
			for (unsigned y = 0; y < inner; y++)
				memcpy(canvas + (size_t)(y0 + y) * stride + (size_t)x0 * 3,
				       thumb + (size_t)y * inner * 3, (size_t)inner * 3);
		}
		free(data);
	}
	if (rc == 0)
		rc = calib_img_encode_jpeg(d, canvas, W, H, 85, jpeg, len, err);
	free(canvas);
	free(thumb);
	calib_img_dec_free(d);
	return rc;
}

/* --- multi-threaded letterbox ------------------------------------------------------- */

struct prep {
	const char *const *paths;
	size_t n;
	unsigned w, h;
	unsigned char pad;
	const struct calib_limits *lim;
	calib_sink sink;
	void *ctx;
	pthread_mutex_t mu;
	size_t next, failed;
	int fatal;
	struct kiln_err ferr;
};

static int slurp(const char *path, unsigned char **buf, size_t *cap, size_t *len,
		 uint64_t max, struct kiln_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (max && (uint64_t)st.st_size > max)) {
		close(fd);
		return kiln_errf(err, KILN_EUNPROC, "", "%s is not a regular file under %llu bytes",
				 path, (unsigned long long)max);
	}
	size_t size = (size_t)st.st_size;
	if (*cap < size + 1) {
		free(*buf);
		*buf = malloc(size + 1);
		*cap = *buf ? size + 1 : 0;
		if (*buf == NULL) {
			close(fd);
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	}
	int r = read_fd(fd, *buf, size);
	close(fd);
	if (r != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot read %s", path);
	*len = size;
	return 0;
}

static void *prep_worker(void *arg)
{
	struct prep *p = arg;
	struct calib_img_dec *d = NULL;
	unsigned char *file = NULL;
	size_t cap = 0;
	struct kiln_err e = { 0 };
	unsigned char *dst = malloc((size_t)p->w * p->h * 3);
	int rc = dst ? calib_img_dec_new(&d, &e) : kiln_errf(&e, KILN_ENOMEM, "", "out of memory");
	struct calib_img_limits il = { p->lim->max_pixels, p->lim->min_side };
	for (;;) {
		pthread_mutex_lock(&p->mu);
		if (rc != 0 && p->fatal == 0) {
			p->fatal = rc;
			p->ferr = e;
		}
		size_t i = p->fatal ? p->n : p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			break;
		size_t len = 0;
		struct kiln_err fe = { 0 };
		int r = slurp(p->paths[i], &file, &cap, &len, p->lim->entry_bytes, &fe);
		if (r == 0)
			r = calib_img_letterbox(d, file, len, &il, p->w, p->h, p->pad, dst, NULL, &fe);
		if (r == KILN_ENOMEM) {
			rc = r;
			e = fe;
			continue;
		}
		if (r != 0) {
			pthread_mutex_lock(&p->mu);
			p->failed++;
			pthread_mutex_unlock(&p->mu);
		}
		if (p->sink)
			p->sink(p->ctx, i, r == 0 ? dst : NULL, r == 0 ? NULL : &fe);
	}
	free(file);
	free(dst);
	calib_img_dec_free(d);
	return NULL;
}

int calib_preprocess_files(const char *const *paths, size_t n, unsigned out_w,
			   unsigned out_h, unsigned char pad, const struct calib_limits *lim,
			   calib_sink sink, void *ctx, size_t *failed, struct kiln_err *err)
{
	struct calib_limits dl;
	if (lim == NULL) {
		calib_limits_default(&dl);
		lim = &dl;
	}
	if (out_w == 0 || out_h == 0 || out_w > MAX_SIDE || out_h > MAX_SIDE)
		return kiln_errf(err, KILN_EINVAL, "size", "output size %ux%u: sides must be 1..%u",
				 out_w, out_h, MAX_SIDE);
	struct prep p = { .paths = paths, .n = n, .w = out_w, .h = out_h, .pad = pad,
			  .lim = lim, .sink = sink, .ctx = ctx };
	unsigned nt = lim->threads;
	if (nt == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		nt = c > 0 ? (unsigned)c : 1;
	}
	if (nt > 64)
		nt = 64;
	pthread_t tid[64];
	unsigned started = 0;
	pthread_mutex_init(&p.mu, NULL);
	for (; started < nt; started++)
		if (pthread_create(&tid[started], NULL, prep_worker, &p) != 0)
			break;
	if (started == 0)
		prep_worker(&p);   /* no threads to be had: do the work here */
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&p.mu);
	if (failed)
		*failed = p.failed;
	if (p.fatal) {
		if (err)
			*err = p.ferr;
		return p.fatal;
	}
	return 0;
}
