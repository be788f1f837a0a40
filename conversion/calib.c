/*
 * calib: ingest of a calibration archive into a normalised image set.
 *
 * Owns the archive side of calib.h: the two passes over the archive (bounds
 * and integrity first, then decoding on worker threads), the per-entry rules
 * and their reason strings, deduplication, stats and the JSON record.  The
 * pixel work is calib_img.c's; exports and previews are calib_export.c's.
 * Never writes a file by an archive entry's name: entry data only ever goes
 * to memory and from there, re-encoded, to the content-addressed blob store.
 * Called by the HTTP layer (dataset upload) and by tests; knows nothing of
 * HTTP or the database.
 */
#include "conversion/calib.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest entry name we keep; real datasets use a few dozen bytes, and the
 * bound keeps the reason list of a hostile archive small. */
#define NAME_CAP 1024
/* The ratio bound starts here: enough for a small tar of empty files to
 * pass, early enough that a bomb costs well under a second. */
#define RATIO_AFTER (64ull << 20)
#define MAX_THREADS 64
/* A refused archive's record lists at most this many of the last names read. */
#define SEEN_JSON_MAX 100

void calib_limits_default(struct calib_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->archive_bytes = 4ull << 30;
	lim->entries = 100000;
	lim->total_bytes = 8ull << 30;
	lim->entry_bytes = 128ull << 20;
	lim->max_ratio = 200;
	lim->max_pixels = 50000000;
	lim->min_side = 16;
	lim->long_side = 1024;
	lim->quality = 95;
	lim->threads = 0;
}

/* One archive entry, from the first pass to the result. */
struct entry {
	char *name;          /* valid UTF-8, owned */
	char *reason;        /* owned; NULL when the entry is (still) an image */
	uint64_t size;       /* decompressed bytes counted in pass 1 */
	int candidate;       /* regular file with an acceptable name: decode it */
	/* Filled by the one worker that decoded this entry. */
	int kept;
	char sha[BLOB_HEX_LEN + 1];
	enum calib_img_format format;
	unsigned w, h, sw, sh;
	int gray;
};

/* --- names --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned cp;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return n;
}

/* A copy of raw that is valid UTF-8 without control characters (each bad
 * byte becomes '?'), cut at NAME_CAP bytes: reports are JSON and end up in
 * a browser.  *bad is set when anything was replaced or cut. */
static char *clean_name(const char *raw, int *bad)
{
	size_t n = strlen(raw);
	size_t cap = n < NAME_CAP ? n : NAME_CAP;
	char *out = malloc(cap + 4);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	*bad = n > NAME_CAP;
	for (size_t i = 0; i < n && o < cap;) {
		const unsigned char *s = (const unsigned char *)raw + i;
		size_t l = utf8_len(s);
		if (l == 0 || (l == 1 && (s[0] < 0x20 || s[0] == 0x7F)) || o + l > cap) {
			out[o++] = '?';
			*bad = 1;
			i++;
			continue;
		}
		memcpy(out + o, s, l);
		o += l;
		i += l;
	}
	if (n > NAME_CAP) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* A small open-addressing set of normalised symlink paths, so "is this
 * entry under an earlier symlink" costs one lookup per path component. */
struct strset {
	char **slot;
	size_t cap, n;
};

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static int strset_has(const struct strset *s, const char *k, size_t n)
{
	if (s->cap == 0)
		return 0;
	for (size_t i = fnv(k, n) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i] == NULL)
			return 0;
		if (strlen(s->slot[i]) == n && memcmp(s->slot[i], k, n) == 0)
			return 1;
	}
}

static int strset_add(struct strset *s, const char *k)
{
	size_t n = strlen(k);
	if (strset_has(s, k, n))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		char **ns = calloc(ncap, sizeof(*ns));
		if (ns == NULL)
			return -1;
		for (size_t i = 0; i < s->cap; i++) {
			if (s->slot[i] == NULL)
				continue;
			size_t j = fnv(s->slot[i], strlen(s->slot[i])) & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = ns;
		s->cap = ncap;
	}
	char *c = strdup(k);
	if (c == NULL)
		return -1;
	size_t j = fnv(k, n) & (s->cap - 1);
	while (s->slot[j])
		j = (j + 1) & (s->cap - 1);
	s->slot[j] = c;
	s->n++;
	return 0;
}

static void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

/* Checks a name and writes its normalised form ("./a//b" -> "a/b") to norm
 * (at least strlen(name) + 1 bytes).  Returns the reason to drop it, or NULL.
 * Backslashes count as separators: zips made on Windows use them, and
 * "..\..\x" must not slip past as one odd component. */
static const char *name_reason(const char *name, char *norm)
{
	if (name[0] == '\0')
		return "entry has no name";
	if (name[0] == '/' || name[0] == '\\' ||
	    (((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') && name[1] == ':'))
		return "absolute path";
	const char *hidden = NULL;
	size_t o = 0;
	for (const char *p = name; *p;) {
		size_t l = strcspn(p, "/\\");
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return "path with '..'";
		if (l > 0 && !(l == 1 && p[0] == '.')) {
			if (p[0] == '.')
				hidden = "hidden file";
			else if (l == 8 && memcmp(p, "__MACOSX", 8) == 0)
				hidden = "system file (__MACOSX)";
			if (o)
				norm[o++] = '/';
			memcpy(norm + o, p, l);
			o += l;
		}
		p += l;
		if (*p)
			p++;
	}
	norm[o] = '\0';
	const char *base = strrchr(norm, '/');
	base = base ? base + 1 : norm;
	if (hidden)
		return hidden;
	if (strcasecmp(base, "Thumbs.db") == 0 || strcasecmp(base, "desktop.ini") == 0)
		return "system file";
	return NULL;
}

/* --- pass 1: structure and bounds ------------------------------------------------ */

struct ingest {
	struct blob_store *bs;
	const struct calib_limits *lim;
	const char *path;
	struct entry *v;
	size_t n, cap;
	struct strset links;
	uint64_t bytes;
	size_t candidates;   /* entries pass 2 decodes (for progress) */
};

static struct archive *open_archive(const char *path, struct kiln_err *err)
{
	struct archive *a = archive_read_new();
	if (a == NULL) {
		kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		return NULL;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
		kiln_errf(err, KILN_EUNPROC, "archive", "cannot read the archive: %s",
			  archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static int corrupt(struct archive *a, struct ingest *in, struct kiln_err *err)
{
	const char *why = archive_error_string(a);
	if (in->n == 0)
		return kiln_errf(err, KILN_EUNPROC, "archive",
				 "not a readable tar or zip archive: %s", why ? why : "unknown format");
	return kiln_errf(err, KILN_EUNPROC, "archive",
			 "archive is corrupt after entry %zu ('%.80s'): %s; the whole upload is "
			 "refused, repack it and upload again", in->n, in->v[in->n - 1].name,
			 why ? why : "read error");
}

/* Classifies one header into a new entry (reason or candidate). */
static int add_entry(struct ingest *in, struct archive_entry *e, struct kiln_err *err)
{
	if (in->n == in->cap) {
		size_t ncap = in->cap ? in->cap * 2 : 256;
		struct entry *nv = realloc(in->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		in->v = nv;
		in->cap = ncap;
	}
	struct entry *en = &in->v[in->n];
	memset(en, 0, sizeof(*en));
	const char *raw = archive_entry_pathname(e);
	if (raw == NULL)
		raw = archive_entry_pathname_utf8(e);
	int bad = 0;
	en->name = clean_name(raw ? raw : "", &bad);
	char *norm = malloc(raw ? strlen(raw) + 1 : 1);
	if (en->name == NULL || norm == NULL) {
		free(en->name);
		free(norm);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	in->n++;
	const char *why = raw ? name_reason(raw, norm) : "entry has no name";
	if (raw == NULL)
		norm[0] = '\0';
	char buf[NAME_CAP + 64];
	const char *hl = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (hl) {
		snprintf(buf, sizeof(buf), "hard link (to '%.200s')", hl);
		why = buf;
	} else if (type == AE_IFLNK) {
		const char *to = archive_entry_symlink(e);
		snprintf(buf, sizeof(buf), "symbolic link (to '%.200s')", to ? to : "");
		if (norm[0] && strset_add(&in->links, norm) != 0) {
			free(norm);
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
		why = buf;
	} else if (type == AE_IFDIR) {
		/* A folder only holds entries: it is neither an image nor one to
		 * list as rejected, or every archive of a folder would show its
		 * folders as refused (issue 17). */
		free(norm);
		return 0;
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		why = "device file";
	} else if (type == AE_IFIFO) {
		why = "fifo";
	} else if (type != AE_IFREG) {
		why = "special file";
	} else if (why == NULL && bad) {
		why = "name is not valid UTF-8 or too long";
	} else if (why == NULL) {
		/* A file "d/x.jpg" after a symlink "d": extracting it would write
		 * through the link.  We never extract, but the user's intent is
		 * unclear and a tool that does extract would be fooled. */
		for (char *p = strchr(norm, '/'); p; p = strchr(p + 1, '/')) {
			if (strset_has(&in->links, norm, (size_t)(p - norm))) {
				snprintf(buf, sizeof(buf), "path goes through the symbolic link '%.*s'",
					 (int)(p - norm > 200 ? 200 : p - norm), norm);
				why = buf;
				break;
			}
		}
	}
	free(norm);
	if (why) {
		en->reason = strdup(why);
		if (en->reason == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	} else {
		en->candidate = 1;
	}
	return 0;
}

/* Is this the start of a JPEG or PNG?  Sniffed in pass 1 so pass 2 never
 * copies a non-image (say a 100 MB video) into memory. */
static int image_magic(const unsigned char *h, size_t n)
{
	return (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) ||
	       (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0);
}

/* Counts one entry's data against the bounds, block by block, so a bomb is
 * stopped within one 64 KiB block of crossing a bound. */
static int count_data(struct archive *a, struct ingest *in, struct kiln_err *err)
{
	const struct calib_limits *lim = in->lim;
	struct entry *en = &in->v[in->n - 1];
	const void *buf;
	size_t len;
	la_int64_t off;
	unsigned char head[8];
	size_t hn = 0;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return corrupt(a, in, err);
		for (size_t i = 0; i < len && hn < sizeof(head); i++)
			head[hn++] = ((const unsigned char *)buf)[i];
		en->size += len;
		in->bytes += len;
		if (lim->entry_bytes && en->size > lim->entry_bytes)
			return kiln_errf(err, KILN_ETOOBIG, "entry_bytes",
					 "entry '%.80s' is larger than the limit of %llu bytes per entry",
					 en->name, (unsigned long long)lim->entry_bytes);
		if (lim->total_bytes && in->bytes > lim->total_bytes)
			return kiln_errf(err, KILN_ETOOBIG, "total_bytes",
					 "archive decompresses to more than the limit of %llu bytes",
					 (unsigned long long)lim->total_bytes);
		if (lim->max_ratio && in->bytes > RATIO_AFTER) {
			uint64_t packed = (uint64_t)archive_filter_bytes(a, -1);
			if (in->bytes / (packed ? packed : 1) > lim->max_ratio)
				return kiln_errf(err, KILN_ETOOBIG, "max_ratio",
						 "archive decompresses more than %llu times its size "
						 "(%llu bytes from %llu): refused as a decompression bomb",
						 (unsigned long long)lim->max_ratio,
						 (unsigned long long)in->bytes, (unsigned long long)packed);
		}
	}
	if (en->candidate && !image_magic(head, hn)) {
		en->candidate = 0;
		en->reason = strdup(hn ? "not a JPEG or PNG image" : "empty file");
		if (en->reason == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	return 0;
}

static int pass_structure(struct ingest *in, struct kiln_err *err)
{
	struct archive *a = open_archive(in->path, err);
	if (a == NULL)
		return err ? err->code : KILN_EUNPROC;
	int rc = 0;
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		/* ARCHIVE_WARN on a header is about metadata (a pax attribute,
		 * a name's charset) and the entry is intact. */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = corrupt(a, in, err);
			break;
		}
		if (in->lim->entries && in->n >= in->lim->entries) {
			rc = kiln_errf(err, KILN_ETOOBIG, "entries",
				       "archive has more than %llu entries",
				       (unsigned long long)in->lim->entries);
			break;
		}
		rc = add_entry(in, e, err);
		if (rc == 0 && in->lim->entry_bytes && archive_entry_size_is_set(e) &&
		    (uint64_t)archive_entry_size(e) > in->lim->entry_bytes)
			rc = kiln_errf(err, KILN_ETOOBIG, "entry_bytes",
				       "entry '%.80s' declares %lld bytes, above the limit of %llu "
				       "bytes per entry", in->v[in->n - 1].name,
				       (long long)archive_entry_size(e),
				       (unsigned long long)in->lim->entry_bytes);
		if (rc == 0)
			rc = count_data(a, in, err);
		if (rc != 0)
			break;
	}
	archive_read_free(a);
	return rc;
}

/* --- pass 2: decoding on worker threads ------------------------------------------- */

struct job {
	size_t idx;
	unsigned char *buf;
	size_t len;
};

struct pool {
	struct ingest *in;
	pthread_mutex_t mu;
	pthread_cond_t can_push, can_pop;
	struct job *ring;
	size_t cap, head, count;
	int closed;
	int fatal;                 /* first server-side error (disk, memory) */
	struct kiln_err ferr;
};

static int set_reason(struct entry *en, const char *msg)
{
	en->reason = strdup(msg);
	return en->reason ? 0 : KILN_ENOMEM;
}

/* Decodes one entry into the normalised JPEG and stores it.  Returns nonzero
 * only for errors that are the server's, not the entry's. */
static int normalise(struct calib_img_dec *d, struct ingest *in, struct job *j,
		     struct kiln_err *ferr)
{
	struct entry *en = &in->v[j->idx];
	const struct calib_limits *lim = in->lim;
	struct calib_img_limits il = { lim->max_pixels, lim->min_side };
	struct calib_img_info info;
	struct kiln_err e = { 0 };
	int rc = calib_img_probe(d, j->buf, j->len, &il, &info, &e);
	if (rc == KILN_EUNPROC)
		return set_reason(en, e.msg);
	struct calib_img img = { 0 };
	if (rc == 0)
		rc = calib_img_fit(d, j->buf, j->len, &info, lim->long_side, lim->long_side, &img, &e);
	if (rc == KILN_EUNPROC)
		return set_reason(en, e.msg);
	unsigned char *jpeg = NULL;
	size_t jlen = 0;
	if (rc == 0)
		rc = calib_img_encode_jpeg(d, img.rgb, img.width, img.height, lim->quality, &jpeg,
					   &jlen, &e);
	if (rc == 0)
		rc = blob_put(in->bs, jpeg, jlen, en->sha, &e);
	free(jpeg);
	free(img.rgb);
	if (rc != 0) {
		*ferr = e;
		return rc;
	}
	en->kept = 1;
	en->format = info.format;
	en->w = img.width;
	en->h = img.height;
	en->sw = calib_img_oriented_w(&info);
	en->sh = calib_img_oriented_h(&info);
	en->gray = info.gray;
	return 0;
}

static void *worker(void *arg)
{
	/* its own name in profiles and top, not its creator's ("MHD-worker") */
	pthread_setname_np(pthread_self(), "kiln-calib");
	struct pool *p = arg;
	struct calib_img_dec *d = NULL;
	struct kiln_err e = { 0 };
	int bad = calib_img_dec_new(&d, &e);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->count == 0 && !p->closed)
			pthread_cond_wait(&p->can_pop, &p->mu);
		if (p->count == 0) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		struct job j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		pthread_cond_signal(&p->can_push);
		int skip = p->fatal != 0;
		pthread_mutex_unlock(&p->mu);
		int rc = bad;
		if (rc == 0 && !skip)
			rc = normalise(d, p->in, &j, &e);
		free(j.buf);
		if (rc != 0 && !skip) {
			pthread_mutex_lock(&p->mu);
			if (p->fatal == 0) {
				p->fatal = rc;
				p->ferr = e;
				if (e.msg[0] == '\0')
					kiln_errf(&p->ferr, rc, "", "out of memory");
			}
			pthread_mutex_unlock(&p->mu);
		}
	}
	calib_img_dec_free(d);
	return NULL;
}

static void push(struct pool *p, struct job j)
{
	pthread_mutex_lock(&p->mu);
	while (p->count == p->cap)
		pthread_cond_wait(&p->can_push, &p->mu);
	p->ring[(p->head + p->count) % p->cap] = j;
	p->count++;
	pthread_cond_signal(&p->can_pop);
	pthread_mutex_unlock(&p->mu);
}

static unsigned thread_count(unsigned want)
{
	if (want == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		want = n > 0 ? (unsigned)n : 1;
	}
	return want > MAX_THREADS ? MAX_THREADS : want;
}

/* Reads one entry's bytes (known from pass 1) into a new buffer. */
static int read_entry(struct archive *a, struct entry *en, unsigned char **out,
		      struct kiln_err *err)
{
	unsigned char *buf = malloc(en->size ? en->size : 1);
	if (buf == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	uint64_t got = 0;
	const void *blk;
	size_t len;
	la_int64_t off;
	for (;;) {
		int r = archive_read_data_block(a, &blk, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		/* Sparse tar entries give offsets with holes; pass 1 counted
		 * only real bytes, so anything past that is a changed file. */
		if (r != ARCHIVE_OK || got + len > en->size) {
			free(buf);
			return kiln_errf(err, KILN_EIO, "archive",
					 "archive changed between passes at '%.80s'", en->name);
		}
		if (len > 0) /* zip gives (NULL, 0) blocks; memcpy from NULL is UB */
			memcpy(buf + got, blk, len);
		got += len;
	}
	*out = buf;
	return 0;
}

static int pass_decode(struct ingest *in, struct kiln_err *err)
{
	struct archive *a = open_archive(in->path, err);
	if (a == NULL)
		return err ? err->code : KILN_EUNPROC;
	struct pool p = { .in = in };
	unsigned nt = thread_count(in->lim->threads);
	pthread_t tid[MAX_THREADS];
	unsigned started = 0;
	int rc = 0;
	size_t pushed = 0;
	p.cap = nt;   /* with nt in flight: memory is 2 x threads entries at most */
	p.ring = calloc(p.cap, sizeof(*p.ring));
	if (p.ring == NULL) {
		archive_read_free(a);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.can_push, NULL);
	pthread_cond_init(&p.can_pop, NULL);
	for (; started < nt; started++) {
		if (pthread_create(&tid[started], NULL, worker, &p) != 0)
			break;
	}
	if (started == 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot start decoding threads: %s", strerror(errno));
	for (size_t idx = 0; rc == 0;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || idx >= in->n) {
			rc = kiln_errf(err, KILN_EIO, "archive", "archive changed between passes");
			break;
		}
		struct entry *en = &in->v[idx++];
		if (!en->candidate)
			continue;
		unsigned char *buf = NULL;
		rc = read_entry(a, en, &buf, err);
		if (rc == 0)
			push(&p, (struct job){ idx - 1, buf, (size_t)en->size });
		/* Pushed is within `threads` entries of decoded: the ring holds
		 * no more.  About 1 % steps, so a callback that writes a row is
		 * cheap. */
		size_t before = pushed * 100 / (in->candidates ? in->candidates : 1);
		pushed += rc == 0;
		if (rc == 0 && in->lim->progress && in->candidates &&
		    pushed * 100 / in->candidates != before &&
		    in->lim->progress(in->lim->progress_ctx,
				      0.1 + 0.9 * (double)pushed / (double)in->candidates) != 0)
			rc = kiln_errf(err, KILN_EUNAVAIL, "", "the ingest was stopped (kilnd is stopping)");
		pthread_mutex_lock(&p.mu);
		if (rc == 0 && p.fatal) {
			rc = p.fatal;
			*err = p.ferr;
		}
		pthread_mutex_unlock(&p.mu);
	}
	pthread_mutex_lock(&p.mu);
	p.closed = 1;
	pthread_cond_broadcast(&p.can_pop);
	pthread_mutex_unlock(&p.mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (rc == 0 && p.fatal) {
		rc = p.fatal;
		if (err)
			*err = p.ferr;
	}
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.can_push);
	pthread_cond_destroy(&p.can_pop);
	free(p.ring);
	archive_read_free(a);
	return rc;
}

/* --- the result ---------------------------------------------------------------------- */

static int by_name(const void *x, const void *y, void *ctx)
{
	const struct entry *v = ctx;
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	int c = strcmp(v[a].name, v[b].name);
	if (c != 0)
		return c;
	return a < b ? -1 : a > b;
}

static int cmp_sha(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorts kept entries by name, marks later copies of the same content as
 * duplicates, and moves everything into the result. */
static int build_result(struct ingest *in, struct calib_result *r, struct kiln_err *err)
{
	size_t nk = 0;
	for (size_t i = 0; i < in->n; i++)
		nk += in->v[i].kept;
	size_t *order = malloc(sizeof(size_t) * (nk ? nk : 1));
	char **shas = malloc(sizeof(char *) * (nk ? nk : 1));
	r->images = calloc(nk ? nk : 1, sizeof(*r->images));
	r->rejected = calloc(in->n ? in->n : 1, sizeof(*r->rejected));
	if (!order || !shas || !r->images || !r->rejected) {
		free(order);
		free(shas);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < in->n; i++)
		if (in->v[i].kept)
			order[k++] = i;
	qsort_r(order, nk, sizeof(size_t), by_name, in->v);
	/* Duplicates: sort hashes to find repeats, keeping the first by name. */
	size_t ns = 0;
	for (size_t i = 0; i < nk; i++) {
		struct entry *en = &in->v[order[i]];
		char **hit = ns ? bsearch(&(char *){ en->sha }, shas, ns, sizeof(char *), cmp_sha)
				: NULL;
		if (hit) {
			char msg[NAME_CAP + 64];
			const char *first = "?";
			for (size_t j = 0; j < r->n_images; j++)
				if (strcmp(r->images[j].sha256, en->sha) == 0)
					first = r->images[j].entry;
			snprintf(msg, sizeof(msg), "duplicate of '%.200s' (same content)", first);
			en->kept = 0;
			if (set_reason(en, msg) != 0) {
				free(order);
				free(shas);
				return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
			}
			r->duplicates++;
			continue;
		}
		/* Insertion keeps shas sorted; sets are thousands, not millions. */
		size_t pos = ns;
		while (pos > 0 && strcmp(shas[pos - 1], en->sha) > 0) {
			shas[pos] = shas[pos - 1];
			pos--;
		}
		shas[pos] = en->sha;
		ns++;
		struct calib_image *im = &r->images[r->n_images++];
		memcpy(im->sha256, en->sha, sizeof(im->sha256));
		im->entry = en->name;
		en->name = NULL;
		im->format = en->format;
		im->width = en->w;
		im->height = en->h;
		im->src_width = en->sw;
		im->src_height = en->sh;
		im->gray = en->gray;
	}
	free(order);
	free(shas);
	for (size_t i = 0; i < in->n; i++) {
		struct entry *en = &in->v[i];
		if (en->reason == NULL)
			continue;
		r->rejected[r->n_rejected].entry = en->name;
		r->rejected[r->n_rejected].reason = en->reason;
		r->n_rejected++;
		en->name = NULL;
		en->reason = NULL;
	}
	/* Names the set: the same images in the same order give the same hash. */
	char *lines = malloc(r->n_images * (BLOB_HEX_LEN + 1) + 1);
	if (lines == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	for (size_t i = 0; i < r->n_images; i++) {
		memcpy(lines + i * (BLOB_HEX_LEN + 1), r->images[i].sha256, BLOB_HEX_LEN);
		lines[i * (BLOB_HEX_LEN + 1) + BLOB_HEX_LEN] = '\n';
	}
	blob_sha256_hex(lines, r->n_images * (BLOB_HEX_LEN + 1), r->set_sha256);
	free(lines);
	return 0;
}

/* A refused archive: the rejections found so far and every name read. */
static void build_partial(struct ingest *in, struct calib_result *r)
{
	r->rejected = calloc(in->n ? in->n : 1, sizeof(*r->rejected));
	r->seen = calloc(in->n ? in->n : 1, sizeof(*r->seen));
	if (r->rejected == NULL || r->seen == NULL)
		return;
	for (size_t i = 0; i < in->n; i++) {
		struct entry *en = &in->v[i];
		r->seen[r->n_seen++] = en->name;
		if (en->reason) {
			r->rejected[r->n_rejected].entry = strdup(en->name);
			r->rejected[r->n_rejected].reason = en->reason;
			r->n_rejected++;
			en->reason = NULL;
		}
		en->name = NULL;
	}
}

static void ingest_free(struct ingest *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->v[i].name);
		free(in->v[i].reason);
	}
	free(in->v);
	strset_free(&in->links);
}

int calib_ingest(struct blob_store *bs, const char *path, const struct calib_limits *lim,
		 struct calib_result **out, struct kiln_err *err)
{
	*out = NULL;
	struct calib_limits dl;
	if (lim == NULL) {
		calib_limits_default(&dl);
		lim = &dl;
	}
	if (lim->long_side < 16 || lim->quality < 1 || lim->quality > 100)
		return kiln_errf(err, KILN_EINVAL, "long_side",
				 "long_side must be >= 16 and quality 1..100");
	struct stat st;
	if (stat(path, &st) != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot open the archive %s: %s", path,
				 strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kiln_errf(err, KILN_EINVAL, "", "%s is not a regular file", path);
	if (lim->archive_bytes && (uint64_t)st.st_size > lim->archive_bytes)
		return kiln_errf(err, KILN_ETOOBIG, "archive_bytes",
				 "archive is %llu bytes, above the limit of %llu",
				 (unsigned long long)st.st_size, (unsigned long long)lim->archive_bytes);
	struct calib_result *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	*out = r;
	struct ingest in = { .bs = bs, .lim = lim, .path = path };
	int rc = pass_structure(&in, err);
	r->entries = in.n;
	r->bytes = in.bytes;
	if (rc == KILN_EUNPROC || rc == KILN_ETOOBIG) {
		build_partial(&in, r);
		ingest_free(&in);
		return rc;
	}
	size_t cand = 0;
	for (size_t i = 0; rc == 0 && i < in.n; i++)
		cand += in.v[i].candidate;
	if (rc == 0 && lim->progress && lim->progress(lim->progress_ctx, 0.1) != 0)
		rc = kiln_errf(err, KILN_EUNAVAIL, "", "the ingest was stopped (kilnd is stopping)");
	in.candidates = cand;
	if (rc == 0 && cand)
		rc = pass_decode(&in, err);
	if (rc == 0)
		rc = build_result(&in, r, err);
	ingest_free(&in);
	if (rc != 0)
		return rc;
	r->complete = 1;
	if (r->n_images == 0)
		return kiln_errf(err, KILN_EUNPROC, "images",
				 "the archive has no usable JPEG or PNG image (%zu entries, %zu rejected; "
				 "see the reasons)", r->entries, r->n_rejected);
	return 0;
}

void calib_result_free(struct calib_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_images; i++)
		free(r->images[i].entry);
	for (size_t i = 0; i < r->n_rejected; i++) {
		free(r->rejected[i].entry);
		free(r->rejected[i].reason);
	}
	for (size_t i = 0; i < r->n_seen; i++)
		free(r->seen[i]);
	free(r->images);
	free(r->rejected);
	free(r->seen);
	free(r);
}

/* --- JSON ---------------------------------------------------------------------------- */

static int cmp_uint(const void *x, const void *y)
{
	unsigned a = *(const unsigned *)x, b = *(const unsigned *)y;
	return a < b ? -1 : a > b;
}

static cJSON *spread(unsigned *v, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || n == 0)
		return o;
	qsort(v, n, sizeof(*v), cmp_uint);
	cJSON_AddNumberToObject(o, "min", v[0]);
	/* Lower median for even counts: a size that exists in the set. */
	cJSON_AddNumberToObject(o, "median", v[(n - 1) / 2]);
	cJSON_AddNumberToObject(o, "max", v[n - 1]);
	return o;
}

cJSON *calib_result_json(const struct calib_result *r)
{
	cJSON *o = cJSON_CreateObject();
	unsigned *ws = malloc(sizeof(unsigned) * (r->n_images + 1));
	unsigned *hs = malloc(sizeof(unsigned) * (r->n_images + 1));
	if (o == NULL || ws == NULL || hs == NULL) {
		cJSON_Delete(o);
		free(ws);
		free(hs);
		return NULL;
	}
	cJSON_AddBoolToObject(o, "complete", r->complete);
	if (r->complete)
		cJSON_AddStringToObject(o, "set_sha256", r->set_sha256);
	cJSON_AddNumberToObject(o, "count", (double)r->n_images);
	cJSON *imgs = cJSON_AddArrayToObject(o, "images");
	size_t njpeg = 0, npng = 0, gray = 0;
	for (size_t i = 0; imgs && i < r->n_images; i++) {
		const struct calib_image *im = &r->images[i];
		cJSON *j = cJSON_CreateObject();
		if (j == NULL)
			break;
		cJSON_AddStringToObject(j, "sha256", im->sha256);
		cJSON_AddStringToObject(j, "entry", im->entry);
		cJSON_AddNumberToObject(j, "width", im->width);
		cJSON_AddNumberToObject(j, "height", im->height);
		cJSON_AddStringToObject(j, "format", calib_img_format_name(im->format));
		cJSON_AddNumberToObject(j, "source_width", im->src_width);
		cJSON_AddNumberToObject(j, "source_height", im->src_height);
		cJSON_AddItemToArray(imgs, j);
		njpeg += im->format == CALIB_IMG_JPEG;
		npng += im->format == CALIB_IMG_PNG;
		gray += im->gray != 0;
		ws[i] = im->src_width;
		hs[i] = im->src_height;
	}
	cJSON *rej = cJSON_AddArrayToObject(o, "rejected");
	for (size_t i = 0; rej && i < r->n_rejected; i++) {
		cJSON *j = cJSON_CreateObject();
		if (j == NULL)
			break;
		cJSON_AddStringToObject(j, "entry", r->rejected[i].entry);
		cJSON_AddStringToObject(j, "reason", r->rejected[i].reason);
		cJSON_AddItemToArray(rej, j);
	}
	cJSON *st = cJSON_AddObjectToObject(o, "stats");
	if (st) {
		cJSON_AddNumberToObject(st, "entries", (double)r->entries);
		cJSON_AddNumberToObject(st, "bytes", (double)r->bytes);
		cJSON *f = cJSON_AddObjectToObject(st, "formats");
		if (f) {
			cJSON_AddNumberToObject(f, "jpeg", (double)njpeg);
			cJSON_AddNumberToObject(f, "png", (double)npng);
		}
		cJSON_AddItemToObject(st, "width", spread(ws, r->n_images));
		cJSON_AddItemToObject(st, "height", spread(hs, r->n_images));
		cJSON_AddNumberToObject(st, "grayscale", (double)gray);
		cJSON_AddNumberToObject(st, "duplicates", (double)r->duplicates);
	}
	if (!r->complete) {
		/* The last names before the damage are what locate it; all of
		 * them could be 100 000 lines. */
		cJSON_AddNumberToObject(o, "entries_read", (double)r->n_seen);
		cJSON *seen = cJSON_AddArrayToObject(o, "entries_before_error");
		size_t from = r->n_seen > SEEN_JSON_MAX ? r->n_seen - SEEN_JSON_MAX : 0;
		for (size_t i = from; seen && i < r->n_seen; i++)
			cJSON_AddItemToArray(seen, cJSON_CreateString(r->seen[i]));
	}
	free(ws);
	free(hs);
	return o;
}
