/*
 * bundle: manifest, deterministic archive and cache key (see bundle.h).
 *
 * Determinism is the point of this file: entries sorted bytewise, fixed
 * metadata, ustar (no pax atime/ctime records), gzip without the mtime and
 * file name its header would otherwise carry.  The archive is streamed into
 * a blob writer, never held in memory whole.
 */
#include "conversion/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

struct flist {
	char **v;
	size_t n;
};

static void flist_free(struct flist *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files under dir/rel, as paths relative to dir. */
static int walk(const char *dir, const char *rel, int depth, struct flist *f, struct kiln_err *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s%s%s", dir, rel[0] ? "/" : "", rel);
	if (depth > BUNDLE_MAX_DEPTH)
		return kiln_errf(err, KILN_ETOOBIG, "bundle", "%s: deeper than %d levels", path,
				 BUNDLE_MAX_DEPTH);
	DIR *d = opendir(path);
	if (d == NULL)
		return kiln_errf(err, KILN_EIO, "bundle", "cannot read %s: %s", path, strerror(errno));
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char r[2048], full[4096];
		if ((size_t)snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
		    sizeof(r) || strlen(dir) > 2000) {
			rc = kiln_errf(err, KILN_ETOOBIG, "bundle", "a path in %s is too long", dir);
			break;
		}
		snprintf(full, sizeof(full), "%s/%s", dir, r);
		struct stat st;
		if (lstat(full, &st) != 0) {
			rc = kiln_errf(err, KILN_EIO, "bundle", "cannot stat %s: %s", full,
				       strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(dir, r, depth + 1, f, err);
		} else if (!S_ISREG(st.st_mode)) {
			rc = kiln_errf(err, KILN_EUNPROC, "bundle", "%s is not a regular file "
				       "(links and special files are not bundled)", r);
		} else if (f->n >= BUNDLE_MAX_FILES) {
			rc = kiln_errf(err, KILN_ETOOBIG, "bundle", "more than %d files",
				       BUNDLE_MAX_FILES);
		} else {
			char **nv = realloc(f->v, (f->n + 1) * sizeof(char *));
			char *copy = strdup(r);
			if (nv == NULL || copy == NULL) {
				free(copy);
				if (nv)
					f->v = nv;
				rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
			} else {
				f->v = nv;
				f->v[f->n++] = copy;
			}
		}
	}
	closedir(d);
	return rc;
}

static int list_files(const char *dir, struct flist *f, struct kiln_err *err)
{
	int rc = walk(dir, "", 0, f, err);
	if (rc != 0) {
		flist_free(f);
		return rc;
	}
	qsort(f->v, f->n, sizeof(char *), cmp_str);
	return 0;
}

static int file_sha256(const char *path, char hex[BLOB_HEX_LEN + 1], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		close(fd);
		return -1;
	}
	unsigned char buf[65536];
	ssize_t k;
	*size = 0;
	int rc = 0;
	while ((k = read(fd, buf, sizeof(buf))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -1;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)k);
		*size += (uint64_t)k;
	}
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	close(fd);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return rc;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

int bundle_manifest(const char *dir, const struct bundle_info *info, cJSON **out,
		    struct kiln_err *err)
{
	*out = NULL;
	struct flist f = {0};
	int rc = list_files(dir, &f, err);
	if (rc != 0)
		return rc;
	cJSON *o = cJSON_CreateObject();
	cJSON *files = cJSON_CreateArray();
	if (o == NULL || files == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(files);
		flist_free(&f);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	add_str_or_null(o, "name", info->name);
	add_str_or_null(o, "target", info->target);
	add_str_or_null(o, "created", info->created);
	cJSON_AddItemToObject(o, "files", files);
	for (size_t i = 0; i < f.n && rc == 0; i++) {
		if (strcmp(f.v[i], "manifest.json") == 0)
			continue;
		char path[4096], hex[BLOB_HEX_LEN + 1];
		uint64_t size;
		snprintf(path, sizeof(path), "%s/%s", dir, f.v[i]);
		if (file_sha256(path, hex, &size) != 0) {
			rc = kiln_errf(err, KILN_EIO, "bundle", "cannot read %s", path);
			break;
		}
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", f.v[i]);
		cJSON_AddNumberToObject(x, "size", (double)size);
		cJSON_AddStringToObject(x, "sha256", hex);
		cJSON_AddItemToArray(files, x);
	}
	flist_free(&f);
	if (rc != 0) {
		cJSON_Delete(o);
		return rc;
	}
	if (info->job > 0)
		cJSON_AddNumberToObject(o, "job", (double)info->job);
	else
		cJSON_AddNullToObject(o, "job");
	add_str_or_null(o, "model_sha256", info->model_sha256);
	add_str_or_null(o, "dataset_sha256", info->dataset_sha256);
	cJSON *tc = cJSON_AddObjectToObject(o, "toolchain");
	add_str_or_null(tc, "id", info->toolchain);
	add_str_or_null(tc, "image", info->toolchain_image);
	cJSON *sim = info->similarity ? cJSON_Duplicate(info->similarity, 1) : cJSON_CreateArray();
	cJSON_AddItemToObject(o, "similarity", sim);
	cJSON_AddBoolToObject(o, "simulated", info->simulated);
	*out = o;
	return 0;
}

int bundle_write_manifest(const char *dir, const struct bundle_info *info, struct kiln_err *err)
{
	cJSON *m;
	int rc = bundle_manifest(dir, info, &m, err);
	if (rc != 0)
		return rc;
	char *text = cJSON_Print(m);
	cJSON_Delete(m);
	if (text == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof(tmp), "%s/.manifest.json.tmp", dir);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
		 fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	free(text);
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return kiln_errf(err, KILN_EIO, "bundle", "cannot write %s: %s", path, strerror(e));
	}
	return 0;
}

/* --- the archive ------------------------------------------------------------ */

typedef int (*sink_fn)(void *arg, const void *buf, size_t len);

struct sink {
	sink_fn fn;
	void *arg;
	int failed;
};

static la_ssize_t on_write(struct archive *a, void *client, const void *buf, size_t len)
{
	(void)a;
	struct sink *s = client;
	if (s->fn(s->arg, buf, len) != 0) {
		s->failed = 1;
		return -1;
	}
	return (la_ssize_t)len;
}

static int pack(const char *dir, sink_fn fn, void *arg, struct kiln_err *err)
{
	struct flist f = {0};
	int rc = list_files(dir, &f, err);
	if (rc != 0)
		return rc;
	struct sink sink = {fn, arg, 0};
	struct archive *a = archive_write_new();
	if (a == NULL) {
		flist_free(&f);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	/* ustar: no pax records carrying atime/ctime; gzip: "!timestamp" drops
	 * the header's mtime; no name is written for a callback stream. */
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, &sink, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
		rc = kiln_errf(err, KILN_EIO, "bundle", "cannot start the archive: %s",
			       archive_error_string(a));
		archive_write_free(a);
		flist_free(&f);
		return rc;
	}
	struct archive_entry *e = archive_entry_new();
	for (size_t i = 0; i < f.n && rc == 0; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, f.v[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0) {
			rc = kiln_errf(err, KILN_EIO, "bundle", "cannot read %s: %s", path,
				       strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		archive_entry_clear(e);
		archive_entry_set_pathname(e, f.v[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, st.st_size);
		archive_entry_set_mtime(e, BUNDLE_MTIME, 0);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_uname(e, "kiln");
		archive_entry_set_gname(e, "kiln");
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			rc = kiln_errf(err, KILN_EIO, "bundle", "cannot add %s: %s", f.v[i],
				       archive_error_string(a));
			close(fd);
			break;
		}
		char buf[65536];
		ssize_t k;
		while ((k = read(fd, buf, sizeof(buf))) != 0) {
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 || archive_write_data(a, buf, (size_t)k) != k) {
				rc = kiln_errf(err, KILN_EIO, "bundle", "cannot add %s: %s", f.v[i],
					       k < 0 ? strerror(errno) : archive_error_string(a));
				break;
			}
		}
		close(fd);
	}
	archive_entry_free(e);
	if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
		rc = kiln_errf(err, KILN_EIO, "bundle", "cannot finish the archive: %s",
			       archive_error_string(a));
	archive_write_free(a);
	flist_free(&f);
	if (rc == 0 && sink.failed)
		rc = kiln_errf(err, KILN_EIO, "bundle", "cannot store the archive");
	return rc;
}

struct blob_sink {
	struct blob_writer *w;
	struct kiln_err *err;
};

static int to_blob(void *arg, const void *buf, size_t len)
{
	struct blob_sink *b = arg;
	return blob_writer_write(b->w, buf, len, b->err);
}

int bundle_pack(const char *dir, struct blob_store *bs, char hex[BLOB_HEX_LEN + 1],
		uint64_t *size, struct kiln_err *err)
{
	struct blob_writer *w;
	int rc = blob_writer_new(bs, &w, err);
	if (rc != 0)
		return rc;
	struct kiln_err werr = {0};
	struct blob_sink b = {w, &werr};
	rc = pack(dir, to_blob, &b, err);
	if (rc != 0) {
		if (werr.code)
			*err = werr;
		blob_writer_abort(w);
		return rc;
	}
	if (size)
		*size = blob_writer_size(w);
	return blob_writer_commit(w, hex, err);
}

static int to_fd(void *arg, const void *buf, size_t len)
{
	int fd = *(int *)arg;
	const char *p = buf;
	while (len) {
		ssize_t k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int bundle_pack_file(const char *dir, const char *path, struct kiln_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "bundle", "cannot create %s: %s", path,
				 strerror(errno));
	int rc = pack(dir, to_fd, &fd, err);
	if (close(fd) != 0 && rc == 0)
		rc = kiln_errf(err, KILN_EIO, "bundle", "cannot write %s", path);
	if (rc != 0)
		unlink(path);
	return rc;
}

/* --- cache key -------------------------------------------------------------- */

void bundle_cache_key(const struct bundle_key_in *in, char hex[BLOB_HEX_LEN + 1])
{
	const char *const names[] = {"model", "dataset", "spec", "image", "recipe"};
	const char *const vals[] = {in->model_sha256, in->dataset_sha256, in->spec_canonical,
				    in->toolchain_image, in->recipe_version};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32] = {0};
	unsigned int mdlen = 0;
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		const char *tag = "kiln-cache-key-v1\n";
		EVP_DigestUpdate(ctx, tag, strlen(tag));
		for (int i = 0; i < 5; i++) {
			const char *v = vals[i] ? vals[i] : "";
			char head[64];
			int k = snprintf(head, sizeof(head), "%s %zu\n", names[i], strlen(v));
			EVP_DigestUpdate(ctx, head, (size_t)k);
			EVP_DigestUpdate(ctx, v, strlen(v));
			EVP_DigestUpdate(ctx, "\n", 1);
		}
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}
