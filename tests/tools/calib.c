/*
 * calib: a command line over conversion/calib.h for tests and benchmarks.
 *
 *   calib ingest ARCHIVE DATA_DIR [--threads N] [--entries N] [--total-bytes N]
 *                [--entry-bytes N] [--ratio N] [--max-pixels N] [--long-side N]
 *       prints the dataset JSON (calib_result_json) and, on failure, a line
 *       "error <code> <field>: <message>" on stderr; exit 0 / 1.
 *   calib letterbox W H DIR [--threads N] [--out OUTDIR]
 *       letterboxes every *.jpg / *.png in DIR; prints "images N seconds S rate R";
 *       --out writes each result as OUTDIR/<basename>.rgb (raw RGB).
 *   calib rawdecode DIR [--threads N] [--scale D | --fit W H]
 *       libjpeg-turbo decode only (RGB, 1/D scale) of the same files, same threads;
 *       --fit picks per file the DCT scale the letterbox to W x H would use.
 *   calib materialize DATA_DIR DEST dir|tar N SEED [W H letterbox|stretch] [--npy]
 *       reads sha256 lines on stdin; writes the export.
 *   calib sheet DATA_DIR OUT.jpg   (sha256 lines on stdin)
 *
 * It is a test tool: arguments are trusted, errors are printed and end it.
 */
#include "conversion/calib.h"

#include <dirent.h>
#include <turbojpeg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const struct kiln_err *e)
{
	fprintf(stderr, "error %s %s: %s\n", kiln_code_name(e->code), e->field, e->msg);
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted paths of the .jpg/.jpeg/.png files in dir. */
static char **list_images(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		perror(dir);
		exit(1);
	}
	char **v = NULL;
	size_t k = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *dot = strrchr(de->d_name, '.');
		if (!dot || (strcmp(dot, ".jpg") && strcmp(dot, ".jpeg") && strcmp(dot, ".png")))
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof(*v));
		}
		if (asprintf(&v[k++], "%s/%s", dir, de->d_name) < 0)
			exit(1);
	}
	closedir(d);
	qsort(v, k, sizeof(*v), cmp_str);
	*n = k;
	return v;
}

static const char *opt_str(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static unsigned long long opt_num(int argc, char **argv, const char *name,
				  unsigned long long def)
{
	const char *s = opt_str(argc, argv, name);
	return s ? strtoull(s, NULL, 0) : def;
}

static int has_flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

static int cmd_ingest(int argc, char **argv)
{
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.threads = (unsigned)opt_num(argc, argv, "--threads", 0);
	lim.entries = opt_num(argc, argv, "--entries", lim.entries);
	lim.total_bytes = opt_num(argc, argv, "--total-bytes", lim.total_bytes);
	lim.entry_bytes = opt_num(argc, argv, "--entry-bytes", lim.entry_bytes);
	lim.max_ratio = opt_num(argc, argv, "--ratio", lim.max_ratio);
	lim.max_pixels = opt_num(argc, argv, "--max-pixels", lim.max_pixels);
	lim.long_side = (unsigned)opt_num(argc, argv, "--long-side", lim.long_side);
	struct kiln_err e = { 0 };
	struct blob_store *bs;
	if (blob_store_open(argv[3], &bs, &e) != 0)
		return die(&e);
	struct calib_result *r = NULL;
	double t0 = now();
	int rc = calib_ingest(bs, argv[2], &lim, &r, &e);
	double dt = now() - t0;
	if (r) {
		cJSON *j = calib_result_json(r);
		cJSON_AddNumberToObject(j, "seconds", dt);
		char *s = cJSON_Print(j);
		puts(s);
		free(s);
		cJSON_Delete(j);
	}
	calib_result_free(r);
	blob_store_close(bs);
	return rc ? die(&e) : 0;
}

struct dump {
	char **paths;
	const char *out;
	unsigned w, h;
};

static void sink_dump(void *ctx, size_t i, const unsigned char *rgb, const struct kiln_err *e)
{
	struct dump *d = ctx;
	if (rgb == NULL) {
		fprintf(stderr, "fail %s: %s\n", d->paths[i], e->msg);
		return;
	}
	if (d->out == NULL)
		return;
	const char *base = strrchr(d->paths[i], '/');
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s.rgb", d->out, base ? base + 1 : d->paths[i]);
	FILE *f = fopen(p, "wb");
	if (f) {
		fwrite(rgb, 1, (size_t)d->w * d->h * 3, f);
		fclose(f);
	}
}

static int cmd_letterbox(int argc, char **argv)
{
	struct dump d = { 0 };
	d.w = (unsigned)atoi(argv[2]);
	d.h = (unsigned)atoi(argv[3]);
	size_t n;
	d.paths = list_images(argv[4], &n);
	d.out = opt_str(argc, argv, "--out");
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.threads = (unsigned)opt_num(argc, argv, "--threads", 0);
	struct kiln_err e = { 0 };
	size_t failed = 0;
	double t0 = now();
	int rc = calib_preprocess_files((const char *const *)d.paths, n, d.w, d.h, 114, &lim,
					sink_dump, &d, &failed, &e);
	double dt = now() - t0;
	if (rc != 0)
		return die(&e);
	printf("images %zu failed %zu seconds %.3f rate %.2f\n", n, failed, dt, n / dt);
	for (size_t i = 0; i < n; i++)
		free(d.paths[i]);
	free(d.paths);
	return failed ? 1 : 0;
}

struct raw {
	char **paths;
	size_t n, next;
	unsigned denom;
	unsigned fit_w, fit_h;
	pthread_mutex_t mu;
	int bad;
};

static void *raw_worker(void *arg)
{
	struct raw *r = arg;
	struct calib_img_dec *d;
	struct kiln_err e = { 0 };
	if (calib_img_dec_new(&d, &e) != 0)
		return NULL;
	unsigned char *buf = NULL;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		size_t i = r->next++;
		pthread_mutex_unlock(&r->mu);
		if (i >= r->n)
			break;
		FILE *f = fopen(r->paths[i], "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = realloc(buf, (size_t)len);
		size_t got = fread(buf, 1, (size_t)len, f);
		fclose(f);
		unsigned denom = r->denom;
		if (r->fit_w) {
			/* the scale calib_img_letterbox picks: smallest covering the fit */
			tjhandle tj = tjInitDecompress();
			int w = 0, h = 0, ss, cs;
			tjDecompressHeader3(tj, buf, got, &w, &h, &ss, &cs);
			tjDestroy(tj);
			double s = (double)r->fit_w / w < (double)r->fit_h / h ? (double)r->fit_w / w
									       : (double)r->fit_h / h;
			unsigned fw = (unsigned)(w * s + 0.5), fh = (unsigned)(h * s + 0.5);
			for (denom = 8; denom > 1; denom /= 2)
				if ((unsigned)((w + denom - 1) / denom) >= fw &&
				    (unsigned)((h + denom - 1) / denom) >= fh)
					break;
		}
		if (calib_img_raw_decode(d, buf, got, denom, &e) != 0) {
			pthread_mutex_lock(&r->mu);
			r->bad++;
			pthread_mutex_unlock(&r->mu);
		}
	}
	free(buf);
	calib_img_dec_free(d);
	return NULL;
}

static int cmd_rawdecode(int argc, char **argv)
{
	struct raw r = { 0 };
	r.paths = list_images(argv[2], &r.n);
	r.denom = (unsigned)opt_num(argc, argv, "--scale", 1);
	const char *fw = opt_str(argc, argv, "--fit");
	for (int i = 1; fw && i + 2 < argc; i++) {
		if (strcmp(argv[i], "--fit") == 0) {
			r.fit_w = (unsigned)atoi(argv[i + 1]);
			r.fit_h = (unsigned)atoi(argv[i + 2]);
		}
	}
	unsigned nt = (unsigned)opt_num(argc, argv, "--threads", 0);
	if (nt == 0)
		nt = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (nt > 64)
		nt = 64;
	pthread_mutex_init(&r.mu, NULL);
	pthread_t tid[64];
	double t0 = now();
	for (unsigned i = 0; i < nt; i++)
		pthread_create(&tid[i], NULL, raw_worker, &r);
	for (unsigned i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	double dt = now() - t0;
	printf("images %zu failed %d seconds %.3f rate %.2f\n", r.n, r.bad, dt, r.n / dt);
	return r.bad ? 1 : 0;
}

static char **read_shas(size_t *n)
{
	char **v = NULL;
	size_t k = 0;
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		v = realloc(v, (k + 1) * sizeof(*v));
		v[k++] = strdup(line);
	}
	*n = k;
	return v;
}

static int cmd_materialize(int argc, char **argv)
{
	struct kiln_err e = { 0 };
	struct blob_store *bs;
	if (blob_store_open(argv[2], &bs, &e) != 0)
		return die(&e);
	struct calib_export o;
	calib_export_default(&o);
	o.layout = strcmp(argv[4], "tar") == 0 ? CALIB_TAR : CALIB_DIR;
	o.count = strtoull(argv[5], NULL, 0);
	o.seed = strtoull(argv[6], NULL, 0);
	if (argc > 9 && argv[7][0] != '-') {
		o.width = (unsigned)atoi(argv[7]);
		o.height = (unsigned)atoi(argv[8]);
		o.fit = strcmp(argv[9], "stretch") == 0 ? CALIB_FIT_STRETCH : CALIB_FIT_LETTERBOX;
	}
	o.npy = has_flag(argc, argv, "--npy");
	size_t n, written = 0;
	char **shas = read_shas(&n);
	int rc = calib_materialize(bs, (const char *const *)shas, n, &o, argv[3], &written, &e);
	for (size_t i = 0; i < n; i++)
		free(shas[i]);
	free(shas);
	blob_store_close(bs);
	if (rc != 0)
		return die(&e);
	printf("written %zu\n", written);
	return 0;
}

static int cmd_sheet(int argc, char **argv)
{
	(void)argc;
	struct kiln_err e = { 0 };
	struct blob_store *bs;
	if (blob_store_open(argv[2], &bs, &e) != 0)
		return die(&e);
	size_t n;
	char **shas = read_shas(&n);
	unsigned char *jpeg = NULL;
	size_t len = 0;
	int rc = calib_contact_sheet(bs, (const char *const *)shas, n, 0, &jpeg, &len, &e);
	for (size_t i = 0; i < n; i++)
		free(shas[i]);
	free(shas);
	blob_store_close(bs);
	if (rc != 0)
		return die(&e);
	FILE *f = fopen(argv[3], "wb");
	if (!f || fwrite(jpeg, 1, len, f) != len) {
		perror(argv[3]);
		return 1;
	}
	fclose(f);
	free(jpeg);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	if (strcmp(c, "ingest") == 0 && argc >= 4)
		return cmd_ingest(argc, argv);
	if (strcmp(c, "letterbox") == 0 && argc >= 5)
		return cmd_letterbox(argc, argv);
	if (strcmp(c, "rawdecode") == 0 && argc >= 3)
		return cmd_rawdecode(argc, argv);
	if (strcmp(c, "materialize") == 0 && argc >= 7)
		return cmd_materialize(argc, argv);
	if (strcmp(c, "sheet") == 0 && argc >= 4)
		return cmd_sheet(argc, argv);
	fprintf(stderr, "usage: see the comment at the top of tests/tools/calib.c\n");
	return 2;
}
