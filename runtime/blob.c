/*
 * blob: the content-addressed store (see blob.h for the contract).
 *
 * Durability order matters: data is fsynced before the rename, and the
 * directory after it, so after a power cut a name either is absent or points
 * at complete bytes.  Temporary files live in blobs/tmp on the same file
 * system as blobs/sha256, so rename(2) is atomic.  A reader never sees a
 * temporary file because nothing ever looks up blobs/tmp by name.
 */
#include "runtime/blob.h"
#include "runtime/fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096

struct blob_store {
	char root[PATH_CAP - 512];   /* <data_dir>/blobs; short enough for every derived path */
};

/* A large blob (an upload) is written by a helper thread: the caller's
 * thread (an HTTP thread reading the socket) only copies into one of
 * PIPE_BUFS buffers of PIPE_BUF_SIZE, while the helper hashes and writes the
 * one before, and asks the kernel to start writing back each PIPE_SYNC_STEP
 * (sync_file_range), so the fsync at commit finds most of the file on disk
 * already instead of all of it (fsync of a 512 MiB upload took 1.8 s, a
 * third of its time).  Memory: PIPE_BUFS x PIPE_BUF_SIZE per writer.
 * Small blobs (most: images, bundle files) never start the helper. */
#define PIPE_MIN ((uint64_t)4 << 20)      /* bytes before the helper starts */
#define PIPE_BUF_SIZE ((size_t)1 << 20)
#define PIPE_BUFS 4
#define PIPE_SYNC_STEP ((uint64_t)8 << 20)

struct pipe_buf {
	char *data;
	size_t len;
};

struct blob_pipe {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pipe_buf bufs[PIPE_BUFS];
	int full[PIPE_BUFS];      /* queued for the helper, in ring order from head */
	int head, queued;         /* next buffer the helper takes; how many are queued */
	int filling;              /* the buffer the caller fills (never queued) */
	int stop;                 /* no more buffers: the helper ends when the ring is empty */
	int failed;               /* the helper's write failed: errno in err_no */
	int err_no;
	uint64_t written, synced; /* helper's counters */
};

struct blob_writer {
	struct blob_store *bs;
	int fd;
	char tmp[PATH_CAP];
	EVP_MD_CTX *md;
	uint64_t size;
	struct blob_pipe *pipe;   /* NULL until the blob passes PIPE_MIN */
};

static int fsync_dir(const char *dir, struct kiln_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot open %s: %s", dir, strerror(errno));
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	if (rc != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot fsync %s: %s", dir, strerror(e));
	return 0;
}

int blob_store_open(const char *data_dir, struct blob_store **out, struct kiln_err *err)
{
	struct blob_store *bs = calloc(1, sizeof(*bs));
	if (bs == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int n = snprintf(bs->root, sizeof(bs->root), "%s/blobs", data_dir);
	if (n < 0 || (size_t)n >= sizeof(bs->root) - 100) {
		free(bs);
		return kiln_errf(err, KILN_EINVAL, "data_dir", "data_dir path is too long");
	}
	char dir[PATH_CAP];
	int rc = fs_mkdir_p(bs->root, 0700, err);
	snprintf(dir, sizeof(dir), "%s/sha256", bs->root);
	if (rc == 0)
		rc = fs_mkdir_p(dir, 0700, err);
	snprintf(dir, sizeof(dir), "%s/tmp", bs->root);
	if (rc == 0)
		rc = fs_mkdir_p(dir, 0700, err);
	if (rc != 0) {
		free(bs);
		return rc;
	}
	/* Whatever is in tmp/ was being written when a previous kilnd died. */
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_CAP + 300];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	*out = bs;
	return 0;
}

void blob_store_close(struct blob_store *bs)
{
	free(bs);
}

int blob_tmp_path(struct blob_store *bs, char *buf, size_t cap, struct kiln_err *err)
{
	unsigned char rnd[12];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kiln_errf(err, KILN_EIO, "", "getrandom failed: %s", strerror(errno));
	char name[2 * sizeof(rnd) + 1];
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(name + 2 * i, 3, "%02x", rnd[i]);
	int n = snprintf(buf, cap, "%s/tmp/%s", bs->root, name);
	if (n < 0 || (size_t)n >= cap)
		return kiln_errf(err, KILN_EINTERNAL, "", "temporary path too long");
	return 0;
}

int blob_writer_new(struct blob_store *bs, struct blob_writer **out, struct kiln_err *err)
{
	struct blob_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int rc = blob_tmp_path(bs, w->tmp, sizeof(w->tmp), err);
	if (rc != 0) {
		free(w);
		return rc;
	}
	/* 0600: uploads and artifacts are the users' own (issue 14 item 7). */
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int e = errno;
		free(w);
		return kiln_errf(err, KILN_EIO, "", "cannot create a temporary blob: %s",
				 strerror(e));
	}
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		blob_writer_abort(w);
		return kiln_errf(err, KILN_ENOMEM, "", "cannot start sha256");
	}
	w->bs = bs;
	*out = w;
	return 0;
}

/* write(2) all of buf; 0 or errno. */
static int write_all(int fd, const char *p, size_t left)
{
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

static void *pipe_main(void *arg)
{
	/* its own name in profiles and top, not its creator's ("MHD-worker") */
	pthread_setname_np(pthread_self(), "kiln-blob");
	struct blob_writer *w = arg;
	struct blob_pipe *bp = w->pipe;
	pthread_mutex_lock(&bp->lock);
	for (;;) {
		while (bp->queued == 0 && !bp->stop)
			pthread_cond_wait(&bp->cond, &bp->lock);
		if (bp->queued == 0)
			break;
		struct pipe_buf *b = &bp->bufs[bp->head];
		int failed = bp->failed;
		pthread_mutex_unlock(&bp->lock);
		int e = failed ? 0 : write_all(w->fd, b->data, b->len);
		if (!failed && e == 0) {
			EVP_DigestUpdate(w->md, b->data, b->len);
			bp->written += b->len;
			/* Start writeback of what is written so far; no waiting:
			 * the disk catches up while the socket is read. */
			if (bp->written - bp->synced >= PIPE_SYNC_STEP) {
				sync_file_range(w->fd, (off_t)bp->synced, (off_t)(bp->written - bp->synced),
						SYNC_FILE_RANGE_WRITE);
				bp->synced = bp->written;
			}
		}
		pthread_mutex_lock(&bp->lock);
		if (e != 0 && !bp->failed) {
			bp->failed = 1;
			bp->err_no = e;
		}
		bp->full[bp->head] = 0;
		bp->head = (bp->head + 1) % PIPE_BUFS;
		bp->queued--;
		pthread_cond_broadcast(&bp->cond);
	}
	pthread_mutex_unlock(&bp->lock);
	return NULL;
}

static void pipe_free(struct blob_pipe *bp)
{
	for (int i = 0; i < PIPE_BUFS; i++)
		free(bp->bufs[i].data);
	pthread_mutex_destroy(&bp->lock);
	pthread_cond_destroy(&bp->cond);
	free(bp);
}

/* Starts the helper; on failure (memory, threads) the writer goes on
 * writing itself, which is only slower. */
static void pipe_start(struct blob_writer *w)
{
	struct blob_pipe *bp = calloc(1, sizeof(*bp));
	if (bp == NULL)
		return;
	int ok = 1;
	for (int i = 0; i < PIPE_BUFS; i++)
		ok &= (bp->bufs[i].data = malloc(PIPE_BUF_SIZE)) != NULL;
	pthread_mutex_init(&bp->lock, NULL);
	pthread_cond_init(&bp->cond, NULL);
	bp->written = bp->synced = w->size;
	w->pipe = bp;
	if (!ok || pthread_create(&bp->thread, NULL, pipe_main, w) != 0) {
		w->pipe = NULL;
		pipe_free(bp);
	}
}

/* Hands the buffer being filled to the helper and takes the next free one
 * (waiting while every buffer is queued).  0, or the helper's errno. */
static int pipe_push(struct blob_pipe *bp)
{
	pthread_mutex_lock(&bp->lock);
	if (bp->bufs[bp->filling].len > 0) {
		bp->full[bp->filling] = 1;
		bp->queued++;
		pthread_cond_broadcast(&bp->cond);
		int next = (bp->filling + 1) % PIPE_BUFS;
		while (bp->full[next] && !bp->failed)
			pthread_cond_wait(&bp->cond, &bp->lock);
		if (!bp->failed) { /* failed: the writer is done for, keep out of the ring */
			bp->filling = next;
			bp->bufs[next].len = 0;
		}
	}
	int e = bp->failed ? bp->err_no : 0;
	pthread_mutex_unlock(&bp->lock);
	return e;
}

/* Queues what is left and waits for the helper to end: afterwards the
 * file holds every byte and md has hashed them.  0, or the helper's errno. */
static int pipe_stop(struct blob_writer *w)
{
	struct blob_pipe *bp = w->pipe;
	w->pipe = NULL;
	pthread_mutex_lock(&bp->lock);
	if (bp->bufs[bp->filling].len > 0 && !bp->failed) {
		bp->full[bp->filling] = 1;
		bp->queued++;
	}
	bp->stop = 1;
	pthread_cond_broadcast(&bp->cond);
	pthread_mutex_unlock(&bp->lock);
	pthread_join(bp->thread, NULL);
	int e = bp->failed ? bp->err_no : 0;
	pipe_free(bp);
	return e;
}

int blob_writer_write(struct blob_writer *w, const void *buf, size_t len, struct kiln_err *err)
{
	if (w->pipe == NULL && w->size + len >= PIPE_MIN)
		pipe_start(w);
	struct blob_pipe *bp = w->pipe;
	if (bp == NULL) {
		int e = write_all(w->fd, buf, len);
		if (e != 0)
			return kiln_errf(err, KILN_EIO, "", "cannot write blob: %s", strerror(e));
		EVP_DigestUpdate(w->md, buf, len);
		w->size += len;
		return 0;
	}
	const char *p = buf;
	size_t left = len;
	while (left > 0) {
		/* Only the caller touches the buffer it fills: no lock needed. */
		struct pipe_buf *b = &bp->bufs[bp->filling];
		size_t n = PIPE_BUF_SIZE - b->len < left ? PIPE_BUF_SIZE - b->len : left;
		memcpy(b->data + b->len, p, n);
		b->len += n;
		p += n;
		left -= n;
		if (b->len == PIPE_BUF_SIZE) {
			int e = pipe_push(bp);
			if (e != 0)
				return kiln_errf(err, KILN_EIO, "", "cannot write blob: %s", strerror(e));
		}
	}
	w->size += len;
	return 0;
}

int blob_writer_flush(struct blob_writer *w, struct kiln_err *err)
{
	if (w->pipe == NULL)
		return 0;
	int e = pipe_stop(w); /* later writes, if any, go straight to the file */
	if (e != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write blob: %s", strerror(e));
	return 0;
}

uint64_t blob_writer_size(const struct blob_writer *w)
{
	return w->size;
}

/* Renames the durable file at tmp to its hash name (or drops it when the
 * same bytes are stored already) and fsyncs the directory. */
static int publish(struct blob_store *bs, const char *tmp, uint64_t size, const char *hex,
		   struct kiln_err *err)
{
	char dir[PATH_CAP], final[PATH_CAP + 100];
	snprintf(dir, sizeof(dir), "%s/sha256/%.2s", bs->root, hex);
	snprintf(final, sizeof(final), "%s/%s", dir, hex);
	int rc = fs_mkdir_p(dir, 0700, err);
	if (rc != 0)
		return rc;
	struct stat st;
	if (stat(final, &st) == 0 && (uint64_t)st.st_size == size) {
		unlink(tmp); /* same bytes already stored: keep the old file */
		/* ...but make it look new: the orphan sweep spares blobs younger
		 * than its grace period, and this one is about to be named. */
		utimensat(AT_FDCWD, final, NULL, 0);
		return 0;
	}
	if (rename(tmp, final) != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot store blob: %s", strerror(errno));
	return fsync_dir(dir, err);
}

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

static void free_writer(struct blob_writer *w)
{
	if (w->pipe)
		pipe_stop(w);
	if (w->fd >= 0)
		close(w->fd);
	EVP_MD_CTX_free(w->md);
	free(w);
}

int blob_writer_commit(struct blob_writer *w, char hex[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	unsigned char d[32];
	unsigned int dlen = 0;
	int rc = blob_writer_flush(w, err);
	if (rc == 0 && (EVP_DigestFinal_ex(w->md, d, &dlen) != 1 || dlen != 32))
		rc = kiln_errf(err, KILN_EINTERNAL, "", "sha256 failed");
	if (rc == 0 && fsync(w->fd) != 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot fsync blob: %s", strerror(errno));
	if (rc == 0 && close(w->fd) != 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot close blob: %s", strerror(errno));
	w->fd = -1;
	if (rc == 0) {
		to_hex(d, 32, hex);
		rc = publish(w->bs, w->tmp, w->size, hex, err);
	}
	if (rc != 0)
		unlink(w->tmp);
	free_writer(w);
	return rc;
}

const char *blob_writer_tmp_path(const struct blob_writer *w)
{
	return w->tmp;
}

/* Reads fd (the file at path) to its end in 64 KiB pieces, handing each to
 * use; the first nonzero return of use or a read error stops it. */
typedef int (*read_use_fn)(void *ctx, const char *buf, size_t n, struct kiln_err *err);
static int read_each(int fd, const char *path, read_use_fn use, void *ctx, struct kiln_err *err)
{
	static __thread char buf[1 << 16];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_errf(err, KILN_EIO, "", "cannot read %s: %s", path, strerror(errno));
		if (n == 0)
			return 0;
		int rc = use(ctx, buf, (size_t)n, err);
		if (rc != 0)
			return rc;
	}
}

struct adopt_sum {
	EVP_MD_CTX *md;
	uint64_t size;
};

static int adopt_add(void *ctx, const char *buf, size_t n, struct kiln_err *err)
{
	(void)err;
	struct adopt_sum *sum = ctx;
	EVP_DigestUpdate(sum->md, buf, n);
	sum->size += (uint64_t)n;
	return 0;
}

static int put_add(void *ctx, const char *buf, size_t n, struct kiln_err *err)
{
	return blob_writer_write(ctx, buf, n, err);
}

int blob_adopt(struct blob_store *bs, const char *path, char hex[BLOB_HEX_LEN + 1],
	       struct kiln_err *err)
{
	if (path == NULL) /* also keeps gcc -O1's null-format check quiet */
		return kiln_errf(err, KILN_EINTERNAL, "", "blob_adopt without a path");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kiln_errf(err, KILN_EIO, "", "cannot open %s: %s", path, strerror(errno));
		unlink(path);
		return KILN_EIO;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) ? 0 :
		 kiln_errf(err, KILN_ENOMEM, "", "cannot start sha256");
	struct adopt_sum sum = {md, 0};
	if (rc == 0)
		rc = read_each(fd, path, adopt_add, &sum, err);
	uint64_t size = sum.size;
	unsigned char d[32];
	unsigned int dlen = 0;
	if (rc == 0 && (EVP_DigestFinal_ex(md, d, &dlen) != 1 || dlen != 32))
		rc = kiln_errf(err, KILN_EINTERNAL, "", "sha256 failed");
	/* fsync through a read-only descriptor is allowed and flushes the
	 * file's data written by whoever made it. */
	if (rc == 0 && fsync(fd) != 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot fsync %s: %s", path, strerror(errno));
	close(fd);
	EVP_MD_CTX_free(md);
	if (rc == 0) {
		to_hex(d, 32, hex);
		rc = publish(bs, path, size, hex, err);
	}
	if (rc != 0)
		unlink(path);
	return rc;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (w == NULL)
		return;
	unlink(w->tmp);
	free_writer(w);
}

int blob_put(struct blob_store *bs, const void *buf, size_t len,
	     char hex[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	struct blob_writer *w;
	int rc = blob_writer_new(bs, &w, err);
	if (rc != 0)
		return rc;
	rc = blob_writer_write(w, buf, len, err);
	if (rc != 0) {
		blob_writer_abort(w);
		return rc;
	}
	return blob_writer_commit(w, hex, err);
}

int blob_put_file(struct blob_store *bs, const char *path,
		  char hex[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot open %s: %s", path, strerror(errno));
	struct blob_writer *w;
	int rc = blob_writer_new(bs, &w, err);
	if (rc == 0)
		rc = read_each(fd, path, put_add, w, err);
	close(fd);
	if (rc != 0) {
		blob_writer_abort(w);
		return rc;
	}
	return blob_writer_commit(w, hex, err);
}

int blob_hex_valid(const char *hex)
{
	if (hex == NULL)
		return 0;
	for (int i = 0; i < BLOB_HEX_LEN; i++) {
		char c = hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return hex[BLOB_HEX_LEN] == '\0';
}

int blob_path(const struct blob_store *bs, const char *hex, char *buf, size_t cap,
	      struct kiln_err *err)
{
	if (!blob_hex_valid(hex))
		return kiln_errf(err, KILN_EINVAL, "sha256", "not a sha256 hex digest");
	int n = snprintf(buf, cap, "%s/sha256/%.2s/%s", bs->root, hex, hex);
	if (n < 0 || (size_t)n >= cap)
		return kiln_errf(err, KILN_EINTERNAL, "", "blob path too long");
	return 0;
}

int blob_open(const struct blob_store *bs, const char *hex, int *fd, uint64_t *size,
	      struct kiln_err *err)
{
	char p[PATH_CAP + 100];
	int rc = blob_path(bs, hex, p, sizeof(p), err);
	if (rc != 0)
		return rc;
	int f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		if (errno == ENOENT)
			return kiln_errf(err, KILN_ENOTFOUND, "", "blob %.12s… is not stored", hex);
		return kiln_errf(err, KILN_EIO, "", "cannot open blob: %s", strerror(errno));
	}
	struct stat st;
	if (fstat(f, &st) != 0) {
		close(f);
		return kiln_errf(err, KILN_EIO, "", "cannot stat blob: %s", strerror(errno));
	}
	*fd = f;
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

int blob_read(const struct blob_store *bs, const char *hex, uint64_t cap, unsigned char **out,
	      size_t *len, struct kiln_err *err)
{
	int fd;
	uint64_t size;
	*out = NULL;
	int rc = blob_open(bs, hex, &fd, &size, err);
	if (rc != 0)
		return rc;
	if (size > cap) {
		close(fd);
		return kiln_errf(err, KILN_EUNPROC, "", "blob %.16s is %llu bytes, not a normalised image",
				 hex, (unsigned long long)size);
	}
	unsigned char *buf = malloc(size ? size : 1);
	size_t got = 0;
	while (buf && got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	int e = errno;
	close(fd);
	if (buf == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (got != size) {
		free(buf);
		return kiln_errf(err, KILN_EIO, "", "cannot read blob %.16s: %s", hex,
				 got < size ? (e ? strerror(e) : "short read") : strerror(e));
	}
	*out = buf;
	*len = size;
	return 0;
}

int blob_remove(struct blob_store *bs, const char *hex, struct kiln_err *err)
{
	char p[PATH_CAP + 100];
	int rc = blob_path(bs, hex, p, sizeof(p), err);
	if (rc != 0)
		return rc;
	if (unlink(p) != 0 && errno != ENOENT)
		return kiln_errf(err, KILN_EIO, "", "cannot remove blob: %s", strerror(errno));
	return 0;
}

int blob_each(struct blob_store *bs, blob_each_fn fn, void *arg, struct kiln_err *err)
{
	char dir[PATH_CAP];
	snprintf(dir, sizeof(dir), "%s/sha256", bs->root);
	DIR *top = opendir(dir);
	if (top == NULL)
		return kiln_errf(err, KILN_EIO, "", "cannot read %s: %s", dir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(top)) != NULL) {
		/* the fan-out directories are the hashes' first two digits */
		if (strlen(de->d_name) != 2 || !isxdigit((unsigned char)de->d_name[0]) ||
		    !isxdigit((unsigned char)de->d_name[1]))
			continue;
		char sub[PATH_CAP + 8];
		snprintf(sub, sizeof(sub), "%s/%.2s", dir, de->d_name);
		DIR *d = opendir(sub);
		struct dirent *fe;
		while (d && (fe = readdir(d)) != NULL) {
			if (!blob_hex_valid(fe->d_name) || strncmp(fe->d_name, de->d_name, 2) != 0)
				continue;
			char p[PATH_CAP + 300];
			struct stat st;
			snprintf(p, sizeof(p), "%s/%.64s", sub, fe->d_name);
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
				fn(arg, fe->d_name, &st);
		}
		if (d)
			closedir(d);
	}
	closedir(top);
	return 0;
}

/* blob_sha256_hex runs on every authenticated request (the token's hash):
 * EVP_Digest made a context and looked SHA-256 up among OpenSSL 3's
 * providers each time, 8 % of a request in a profile.  So the digest is
 * fetched once and each thread keeps one context. */
static pthread_once_t small_once = PTHREAD_ONCE_INIT;
static pthread_key_t small_key;
static EVP_MD *small_md;

static void small_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void small_init(void)
{
	small_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&small_key, small_free) != 0)
		small_md = NULL;
}

void blob_sha256_hex(const void *buf, size_t len, char hex[BLOB_HEX_LEN + 1])
{
	unsigned char d[32];
	unsigned int dlen = 0;
	pthread_once(&small_once, small_init);
	EVP_MD_CTX *ctx = small_md ? pthread_getspecific(small_key) : NULL;
	if (small_md && ctx == NULL && (ctx = EVP_MD_CTX_new()) != NULL &&
	    pthread_setspecific(small_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	if (ctx == NULL || EVP_DigestInit_ex(ctx, small_md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, buf, len) != 1 || EVP_DigestFinal_ex(ctx, d, &dlen) != 1)
		EVP_Digest(buf, len, d, &dlen, EVP_sha256(), NULL); /* out of memory: the slow way */
	to_hex(d, 32, hex);
}
