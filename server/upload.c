/*
 * upload: streaming request bodies into the blob store (see upload.h).
 *
 * Bytes go straight from libmicrohttpd's buffer to the blob writer's
 * temporary file, so memory stays at one network buffer whatever the upload
 * size.  Nothing becomes visible until upload_commit(); a client that stops
 * half way leaves only a temporary file, which upload_free() removes.
 */
#include "server/upload.h"

#include <stdlib.h>
#include <string.h>

#include "server/app.h"
#include "server/diskfree.h"
#include "server/routes.h"

struct upload {
	struct blob_writer *w;
	uint64_t limit;
	char limit_name[64];
	struct http_multipart *mp;
	int file_parts;          /* `file` parts seen */
	char name[UPLOAD_NAME_MAX + 2];
	size_t name_len;
	int name_from_query;
	char field_name[UPLOAD_NAME_MAX + 2]; /* the multipart `name` field */
	size_t field_len;
	char file_stem[UPLOAD_NAME_MAX + 2];
	struct kiln_err part_err; /* set by the part callback */
	int refs;                /* atomic: the request's + upload_keep()'s */
};

int upload_name_ok(const char *s)
{
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && routes_label_ok(s, UPLOAD_NAME_MAX);
}

static int too_big(struct upload *u, struct kiln_err *err)
{
	return kiln_errf(err, KILN_ETOOBIG, u->limit_name,
			 "the upload is over %llu bytes, the limit set by %s",
			 (unsigned long long)u->limit, u->limit_name);
}

static int write_file_bytes(struct upload *u, const char *buf, size_t len, struct kiln_err *err)
{
	if (blob_writer_size(u->w) + len > u->limit)
		return too_big(u, err);
	return blob_writer_write(u->w, buf, len, err);
}

/* Keeps the part of a file name a record name can use: the base name
 * without its last extension ("yolo11n.onnx" -> "yolo11n"). */
static void stem_of(const char *filename, char *out, size_t cap)
{
	const char *base = strrchr(filename, '/');
	base = base ? base + 1 : filename;
	const char *b2 = strrchr(base, '\\');
	base = b2 ? b2 + 1 : base;
	size_t n = strlen(base);
	const char *dot = strrchr(base, '.');
	if (dot && dot != base)
		n = (size_t)(dot - base);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, base, n);
	out[n] = '\0';
}

static int on_part(void *cls, const char *field, const char *filename, const char *data,
		   uint64_t off, size_t size)
{
	struct upload *u = cls;
	if (field && strcmp(field, "file") == 0) {
		if (off == 0) {
			if (++u->file_parts > 1) {
				kiln_errf(&u->part_err, KILN_EINVAL, "file",
					  "the form has more than one 'file' part; send one file");
				return 1;
			}
			if (filename)
				stem_of(filename, u->file_stem, sizeof(u->file_stem));
		}
		return write_file_bytes(u, data, size, &u->part_err) != 0;
	}
	if (field && strcmp(field, "name") == 0) {
		if (u->field_len + size > UPLOAD_NAME_MAX) {
			kiln_errf(&u->part_err, KILN_EINVAL, "name",
				  "name is longer than %d characters", UPLOAD_NAME_MAX);
			return 1;
		}
		memcpy(u->field_name + u->field_len, data, size);
		u->field_len += size;
		u->field_name[u->field_len] = '\0';
		return 0;
	}
	kiln_errf(&u->part_err, KILN_EINVAL, field ? field : "",
		  "unknown form field '%.64s'; send 'file' and optionally 'name'",
		  field ? field : "");
	return 1;
}

int upload_begin(struct http_req *req, struct blob_store *bs, uint64_t limit,
		 const char *limit_name, struct upload **out, struct kiln_err *err)
{
	const char *cl = http_req_header(req, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > limit)
		return kiln_errf(err, KILN_ETOOBIG, limit_name,
				 "the upload is %s bytes; the limit is %llu (%s)", cl,
				 (unsigned long long)limit, limit_name);
	/* Before a byte is read: a 4 GB body refused at the end would have
	 * filled the disk on the way. */
	int rc = diskfree_check(((struct app *)http_req_app(req))->cfg, cl ? strtoull(cl, NULL, 10) : 0, err);
	if (rc != 0)
		return rc;
	struct upload *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	u->refs = 1;
	u->limit = limit;
	snprintf(u->limit_name, sizeof(u->limit_name), "%s", limit_name);
	const char *q = http_req_query(req, "name");
	if (q) {
		if (strlen(q) > UPLOAD_NAME_MAX + 1)
			q = "-invalid-"; /* checked (and refused) in upload_finish */
		snprintf(u->name, sizeof(u->name), "%s", q);
		u->name_from_query = 1;
	}
	const char *ct = http_req_header(req, "Content-Type");
	if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
		u->mp = http_multipart_new(req, on_part, u);
		if (u->mp == NULL) {
			free(u);
			return kiln_errf(err, KILN_EINVAL, "file",
					 "the multipart body has no boundary in its Content-Type");
		}
	}
	rc = blob_writer_new(bs, &u->w, err);
	if (rc != 0) {
		upload_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

int upload_data(struct upload *u, const char *buf, size_t len, struct kiln_err *err)
{
	if (u->mp == NULL)
		return write_file_bytes(u, buf, len, err);
	if (http_multipart_feed(u->mp, buf, len) == 0)
		return 0;
	if (u->part_err.code != 0) {
		*err = u->part_err;
		return err->code;
	}
	return kiln_errf(err, KILN_EINVAL, "file", "the multipart/form-data body is malformed");
}

int upload_finish(struct upload *u, struct kiln_err *err)
{
	if (u->mp != NULL && u->file_parts == 0)
		return kiln_errf(err, KILN_EINVAL, "file",
				 "the form has no 'file' part; send the file as field 'file'");
	if (blob_writer_size(u->w) == 0)
		return kiln_errf(err, KILN_EINVAL, "file", "the upload is empty");
	if (!u->name_from_query)
		snprintf(u->name, sizeof(u->name), "%s", u->field_len ? u->field_name : u->file_stem);
	if (u->name[0] == '\0')
		return kiln_errf(err, KILN_EINVAL, "name",
				 "a name is required: ?name=NAME, or a multipart 'name' field");
	if (!upload_name_ok(u->name))
		return kiln_errf(err, KILN_EINVAL, "name",
				 "name must be 1-64 characters of A-Z a-z 0-9 . _ -");
	/* The handler reads the temporary file next (upload_tmp_path). */
	return blob_writer_flush(u->w, err);
}

const char *upload_name(const struct upload *u) { return u->name; }
uint64_t upload_size(const struct upload *u) { return u->w ? blob_writer_size(u->w) : 0; }
const char *upload_tmp_path(const struct upload *u) { return blob_writer_tmp_path(u->w); }

int upload_commit(struct upload *u, char hex[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	struct blob_writer *w = u->w;
	u->w = NULL; /* commit frees it, success or not */
	return blob_writer_commit(w, hex, err);
}

void upload_keep(struct upload *u)
{
	/* The body is complete: the post processor (tied to the connection)
	 * is no longer needed, and must not outlive the request. */
	http_multipart_free(u->mp);
	u->mp = NULL;
	__atomic_add_fetch(&u->refs, 1, __ATOMIC_ACQ_REL);
}

void upload_free(struct upload *u)
{
	if (u == NULL)
		return;
	if (__atomic_sub_fetch(&u->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	blob_writer_abort(u->w);
	http_multipart_free(u->mp);
	free(u);
}

int upload_stream_data(void *state, const char *buf, size_t len, struct kiln_err *err)
{
	return upload_data(state, buf, len, err);
}

void upload_stream_free(void *state)
{
	upload_free(state);
}
