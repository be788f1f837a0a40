/*
 * blob: the content-addressed file store under <data_dir>/blobs/.
 *
 * Every upload and artifact (models, datasets, normalised images, compiled
 * files, bundles) is stored here as blobs/sha256/<aa>/<64-hex>.  A writer
 * streams into blobs/tmp/<random>, hashing as it goes; commit fsyncs the
 * file, renames it to its hash name and fsyncs the directory, so a reader
 * (or a crash) sees the whole blob or none of it.  The same bytes stored
 * twice are kept once.  Temporary files left by a crash are removed by
 * blob_store_open().  Knows nothing of the database: callers write their
 * row after commit returns.
 */
#ifndef KILN_BLOB_H
#define KILN_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "runtime/kiln_err.h"

#define BLOB_HEX_LEN 64

struct blob_store;
struct blob_writer;

/* Opens the store rooted at <data_dir>/blobs (created if missing) and removes
 * stale temporary files.  Caller frees with blob_store_close(). */
int blob_store_open(const char *data_dir, struct blob_store **out, struct kiln_err *err);
void blob_store_close(struct blob_store *bs);

/* A new writer on a fresh temporary file.  Finish with exactly one of
 * blob_writer_commit() or blob_writer_abort(); both free it. */
int blob_writer_new(struct blob_store *bs, struct blob_writer **out, struct kiln_err *err);
int blob_writer_write(struct blob_writer *w, const void *buf, size_t len, struct kiln_err *err);
uint64_t blob_writer_size(const struct blob_writer *w);
/* Makes the blob durable and visible; hex receives its sha256 (65 bytes).
 * Frees w whatever the result. */
int blob_writer_commit(struct blob_writer *w, char hex[BLOB_HEX_LEN + 1], struct kiln_err *err);
/* Waits until every byte written so far is in the temporary file (a large
 * blob is written by a helper thread, see blob.c).  0, or KILN_EIO when
 * that write failed. */
int blob_writer_flush(struct blob_writer *w, struct kiln_err *err);
/* The temporary file's path, so a caller can check the bytes (open, mmap)
 * before deciding to commit or abort — after blob_writer_flush().  Valid
 * until commit/abort. */
const char *blob_writer_tmp_path(const struct blob_writer *w);
/* Drops the temporary file; accepts NULL. */
void blob_writer_abort(struct blob_writer *w);

/* Stores a buffer / a whole file (copied) and gives its sha256. */
int blob_put(struct blob_store *bs, const void *buf, size_t len,
	     char hex[BLOB_HEX_LEN + 1], struct kiln_err *err);
int blob_put_file(struct blob_store *bs, const char *path,
		  char hex[BLOB_HEX_LEN + 1], struct kiln_err *err);

/* Moves a finished file into the store without copying it: hashes it,
 * fsyncs it and renames it into place (path must be on the data directory's
 * file system, e.g. under <data_dir>/tmp or a job workspace).  The file is
 * gone from path afterwards, whatever the result. */
int blob_adopt(struct blob_store *bs, const char *path, char hex[BLOB_HEX_LEN + 1],
	       struct kiln_err *err);
/* A fresh path under <data_dir>/blobs/tmp for a file to adopt later; the
 * caller creates it.  buf must hold 4096 bytes. */
int blob_tmp_path(struct blob_store *bs, char *buf, size_t cap, struct kiln_err *err);

/* True when hex is 64 lowercase hex digits. */
int blob_hex_valid(const char *hex);
/* Writes the blob's path into buf; KILN_EINVAL for a bad hash. Does not check
 * that the blob exists. */
int blob_path(const struct blob_store *bs, const char *hex, char *buf, size_t cap,
	      struct kiln_err *err);
/* Opens the blob read-only; *fd is the caller's to close. KILN_ENOTFOUND when
 * absent. */
int blob_open(const struct blob_store *bs, const char *hex, int *fd, uint64_t *size,
	      struct kiln_err *err);
/* Reads a whole blob of at most cap bytes into a new buffer (*out, caller
 * frees).  KILN_EUNPROC when it is larger: callers that read images into
 * memory (calibration export, a job's sample hashes) name what they expect. */
int blob_read(const struct blob_store *bs, const char *hex, uint64_t cap, unsigned char **out,
	      size_t *len, struct kiln_err *err);
/* Removes a blob (callers check that no record still names it). */
int blob_remove(struct blob_store *bs, const char *hex, struct kiln_err *err);

/* Calls fn(arg, hex, st) for every stored blob (st from lstat: size,
 * mtime), in no particular order; fn may remove the blob it is given.
 * Names that are not a blob's (stray files) are skipped.  Returns 0 or
 * KILN_EIO when the store cannot be read. */
typedef void (*blob_each_fn)(void *arg, const char *hex, const struct stat *st);
int blob_each(struct blob_store *bs, blob_each_fn fn, void *arg, struct kiln_err *err);
/* sha256 of a buffer as 64 lowercase hex digits + NUL. */
void blob_sha256_hex(const void *buf, size_t len, char hex[BLOB_HEX_LEN + 1]);

#endif
