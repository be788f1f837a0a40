/*
 * upload: a request body streamed into the blob store — either the raw body
 * (application/octet-stream) or the `file` part of a multipart/form-data
 * body — with a size limit, never held in memory.  Models and calibration
 * archives both arrive this way.
 *
 * Use from a BODY_STREAM route: upload_begin() in the stream's begin,
 * upload_data() in its data, upload_finish() in the handler (then check the
 * bytes at upload_tmp_path() and upload_commit() or let upload_free() drop
 * them), upload_free() in the stream's free.
 */
#ifndef KILN_UPLOAD_H
#define KILN_UPLOAD_H

#include <stdint.h>

#include "runtime/blob.h"
#include "server/http.h"

#define UPLOAD_NAME_MAX 64

struct upload;

/* Starts an upload for req.  limit is the most bytes accepted; limit_name
 * is the setting that holds it (named in the 413).  A Content-Length above
 * the limit is refused here, before any byte is read.  The name comes from
 * ?name=, else the multipart `name` field, else the file name's stem; it is
 * checked against [A-Za-z0-9._-]{1,64} in upload_finish().  Caller frees
 * *out with upload_free(). */
int upload_begin(struct http_req *req, struct blob_store *bs, uint64_t limit,
		 const char *limit_name, struct upload **out, struct kiln_err *err);
int upload_data(struct upload *u, const char *buf, size_t len, struct kiln_err *err);
/* After the last byte: checks a file arrived and the name is valid. */
int upload_finish(struct upload *u, struct kiln_err *err);

const char *upload_name(const struct upload *u);
uint64_t upload_size(const struct upload *u);
/* Where the bytes are until commit (see blob_writer_tmp_path). */
const char *upload_tmp_path(const struct upload *u);
/* Makes the upload a blob; hex receives its sha256. */
int upload_commit(struct upload *u, char hex[BLOB_HEX_LEN + 1], struct kiln_err *err);
/* Drops whatever was not committed; accepts NULL. */
void upload_free(struct upload *u);

/* upload_data / upload_free with the signatures of struct http_stream_ops,
 * so a route's stream ops need only their own begin. */
int upload_stream_data(void *state, const char *buf, size_t len, struct kiln_err *err);
void upload_stream_free(void *state);

/* 1 when s matches [A-Za-z0-9._-]{1,64} and is not "." or "..". */
int upload_name_ok(const char *s);

#endif
