/*
 * http: kilnd's HTTP layer on libmicrohttpd.
 *
 * Owns the daemon (thread pool + poll), the route table dispatch, bearer
 * authentication and role checks, request bodies (none / bounded JSON /
 * streamed to a sink), the JSON error shape, the access log and metrics.
 * Handlers see only struct http_req and the accessors below; nothing else in
 * kilnd includes microhttpd.h.
 *
 * A request's life: the route is matched and the caller authenticated when
 * the headers arrive (so a 401/404/413 is sent before any body is read);
 * the body is collected or streamed; then the route's handler runs once and
 * sets exactly one reply with an http_reply_* call — or hands the request
 * on: http_req_park() to wait for something without holding a thread,
 * http_req_offload() to do heavy work on the work pool.  A handler itself
 * must return quickly: there are only 2 x cores HTTP threads.
 */
#ifndef KILN_HTTP_H
#define KILN_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "runtime/kiln_err.h"

struct http_req;
struct http_server;
struct db;
struct metrics;
struct workpool;

/* Roles, in the order a route's minimum is checked.  A device token is not
 * a weaker user: it reaches only ROLE_DEVICE routes, and those only it. */
enum http_role {
	ROLE_ANON = 0,   /* no token needed */
	ROLE_DEVICE,     /* device tokens only */
	ROLE_USER,       /* user or admin */
	ROLE_ADMIN,      /* admin only */
};

enum http_body {
	BODY_NONE = 0,   /* a body is a 400 */
	BODY_JSON,       /* up to max_json_body bytes, parsed before the handler */
	BODY_STREAM,     /* handed chunk by chunk to route->stream */
};

/* For BODY_STREAM routes: begin() runs once the caller is authenticated,
 * data() for each chunk, then the handler; free() always runs at the end of
 * the request (also when the client went away), and must undo whatever the
 * handler did not commit. */
struct http_stream_ops {
	int (*begin)(struct http_req *req, void **state, struct kiln_err *err);
	int (*data)(void *state, const char *buf, size_t len, struct kiln_err *err);
	void (*free)(void *state);
};

typedef void (*http_handler)(struct http_req *req);

/* Whether a GET route's answers may be served again (server/answers.h).
 * ANSWER_FROM_DB only for a route whose answer is made of database rows
 * alone (read through runtime/db), given the path, query and caller: never
 * one that reads files, the clock beyond ANSWERS_MAX_AGE_MS, another
 * request header, or memory other threads change.  ANSWER_ETAG_FROM_DB for
 * a route whose 200 is not kept (a file) but whose ETag is made of database
 * rows alone by the same rule: its 304 to an If-None-Match is kept, and
 * served again only to a request whose If-None-Match names that ETag; a
 * request without If-None-Match never looks and is never kept. */
enum http_answer {
	ANSWER_FRESH = 0,    /* run the handler every time */
	ANSWER_FROM_DB,
	ANSWER_ETAG_FROM_DB,
};

struct http_route {
	const char *method;        /* "GET", "POST", ...; GET routes also answer HEAD */
	const char *pattern;       /* "/api/v1/tokens/{id}"; {name} matches one segment */
	const char *name;          /* metrics label, e.g. "tokens_list" */
	enum http_role role;
	enum http_body body;
	http_handler handler;
	const struct http_stream_ops *stream;
	enum http_answer answer;
};

struct http_principal {
	long long token_id;        /* 0 for anonymous */
	enum http_role role;       /* ROLE_ANON when unauthenticated */
	char name[64];
};

/* Looks up a bearer token; fills p and returns 0, or KILN_EAUTH. */
typedef int (*http_auth_fn)(void *app, const char *token, struct http_principal *p,
			    struct kiln_err *err);

/* The dashboard's session cookie, the alternative to a bearer token. */
#define HTTP_SESSION_COOKIE "kiln_session"

/* Checks a session cookie's value when a request has no Authorization
 * header.  unsafe is 1 for state-changing methods (anything but GET/HEAD):
 * then csrf (the X-CSRF-Token header, NULL when absent) must match the
 * session.  Fills p and returns 0; KILN_EAUTH (401) for an unknown or
 * expired session, KILN_EFORBIDDEN (403) for a missing or wrong CSRF token. */
typedef int (*http_session_fn)(void *app, const char *session, const char *csrf,
			       int unsafe, struct http_principal *p, struct kiln_err *err);

struct http_server_opts {
	const char *host;
	int port;
	int threads;
	int connection_limit;
	int per_ip_connection_limit;
	int connection_timeout;
	int header_timeout;        /* seconds a request's line and headers may take */
	size_t connection_memory_limit;
	size_t max_json_body;
	FILE *access_log;          /* NULL = no access log */
	const struct http_route *routes;
	size_t n_routes;
	http_auth_fn authenticate;
	http_session_fn check_session; /* NULL: bearer tokens only */
	void *app;                 /* handed back by http_req_app() */
	struct workpool *work;     /* runs http_req_offload work; NULL: inline */
	struct db *answers_db;     /* what ANSWER_FROM_DB answers are read from;
	                            * NULL: every answer is fresh */
};

int http_server_start(const struct http_server_opts *opts, struct http_server **out,
		      struct kiln_err *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);
/* Stops accepting, lets in-flight requests finish for up to grace_s seconds,
 * then stops the daemon and frees srv.  Accepts NULL. */
void http_server_stop(struct http_server *srv, int grace_s);
struct metrics *http_server_metrics(struct http_server *srv);

/* --- request accessors (valid during the handler) --- */
void *http_req_app(struct http_req *req);
const char *http_req_method(const struct http_req *req);
const char *http_req_path(const struct http_req *req);
/* The value of {name} in the route's pattern, or NULL. */
const char *http_req_param(const struct http_req *req, const char *name);
const char *http_req_query(struct http_req *req, const char *key);
const char *http_req_header(struct http_req *req, const char *name);
/* The value of cookie name, or NULL. */
const char *http_req_cookie(struct http_req *req, const char *name);
const struct http_principal *http_req_who(const struct http_req *req);
/* The parsed body of a BODY_JSON route (owned by req), never NULL there. */
const cJSON *http_req_json(const struct http_req *req);
/* The state begin() made for a BODY_STREAM route. */
void *http_req_stream_state(const struct http_req *req);
struct http_server *http_req_server(struct http_req *req);

/* Parses ?limit=&after= with bounds; on error replies 400 and returns -1. */
int http_req_page(struct http_req *req, int *limit, long long *after);

/* --- streaming multipart/form-data (libmicrohttpd's post processor) --- */
struct http_multipart;
/* Called for each piece of each part, in order; off is the piece's offset in
 * its part (0 starts a new part).  Return 0 to go on, non-zero to stop. */
typedef int (*http_part_fn)(void *cls, const char *field, const char *filename,
			    const char *data, uint64_t off, size_t size);
/* NULL when the request's Content-Type is not multipart/form-data (or out of
 * memory).  Free with http_multipart_free() (accepts NULL). */
struct http_multipart *http_multipart_new(struct http_req *req, http_part_fn fn, void *cls);
/* Feeds body bytes; -1 when the body is malformed or fn asked to stop. */
int http_multipart_feed(struct http_multipart *mp, const char *data, size_t len);
void http_multipart_free(struct http_multipart *mp);

/* --- replies: each sets the request's one reply --- */
/* Sends body as JSON; takes ownership of body (freed here). */
void http_reply_json(struct http_req *req, unsigned status, cJSON *body);
/* {"error": {"code", "message", "field"}}. */
void http_reply_error(struct http_req *req, unsigned status, const char *code,
		      const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Maps err->code to its status (http_status_of) and replies with it. */
void http_reply_kerr(struct http_req *req, const struct kiln_err *err);
/* Copies len bytes. */
void http_reply_bytes(struct http_req *req, unsigned status, const char *content_type,
		      const void *buf, size_t len);
/* Sends len bytes of fd from offset with sendfile; takes ownership of fd. */
void http_reply_fd(struct http_req *req, unsigned status, const char *content_type,
		   int fd, uint64_t offset, uint64_t len);
void http_reply_empty(struct http_req *req, unsigned status);
/* The one place for conditional and partial replies of a file-like
 * resource (bundles, blobs, model files, graph files, job logs): fd holds
 * size bytes and is taken (closed by the reply).  etag (a quoted strong
 * tag, or NULL for a file without a validator, like a growing log):
 * If-None-Match naming it ("*", a list, weak W/ tags compared by their
 * opaque part, RFC 9110 13.1.2) is a 304 with no body; a single
 * "bytes=" Range, when If-Range is absent or equals etag, is a 206 or a 416
 * past the end; anything else is a 200 with the whole file.  Sets ETag and
 * Accept-Ranges. */
void http_reply_file(struct http_req *req, int fd, uint64_t size, const char *content_type,
		     const char *etag);
/* 1 when the request's If-None-Match names etag (the rule above): a 304
 * can then be sent without opening anything. */
int http_req_fresh(struct http_req *req, const char *etag);
/* Adds a header to the reply already set. */
void http_reply_header(struct http_req *req, const char *name, const char *value);

/* A streamed reply of unknown length (chunked), e.g. Server-Sent Events.
 * read_fn runs on the HTTP pool thread that owns the connection each time
 * the client can take more: it writes up to max bytes into buf and returns
 * how many (> 0); 0 when it has nothing now — the connection is then parked
 * (suspended: no thread waits for it) until http_stream_wake() or the
 * keep-alive tick (HTTP_STREAM_TICK_S) calls read_fn again; or -1 to end the
 * stream.  read_fn must not block.  free_fn(ctx) runs once when the reply is
 * done or the client went away (also when this call fails); ownership of ctx
 * passes here.  *handle (may be NULL) gets the stream's handle for
 * http_stream_wake(), valid until free_fn has returned. */
#define HTTP_STREAM_TICK_S 15
struct http_stream;
typedef long (*http_stream_read_fn)(void *ctx, char *buf, size_t max);
typedef void (*http_stream_free_fn)(void *ctx);
void http_reply_stream(struct http_req *req, unsigned status, const char *content_type,
		       http_stream_read_fn read_fn, http_stream_free_fn free_fn, void *ctx,
		       struct http_stream **handle);
/* Ends every open stream whose request was authorised by token_id (its
 * token was revoked); each sees it at its next read, parked ones at once. */
void http_server_end_streams(struct http_server *srv, long long token_id);
/* Says new data may be there: a parked stream is resumed.  Quick and safe
 * from any thread, also under the caller's own locks. */
void http_stream_wake(struct http_stream *h);

/* --- requests that wait or work without holding a pool thread ---------- */

/* Parks the request: the handler returns without a reply and the
 * connection is suspended (no thread waits for it).  check(req, ctx, last)
 * then runs on the connection's pool thread after every wake
 * (http_server_wake_parked) and once timeout_s have passed: it sets the
 * reply and returns 1, or returns 0 to wait on; when last is 1 (the time
 * is up, or kilnd is stopping) it must reply.  check must not block.
 * free_ctx(ctx) (may be NULL) runs once when the request is over. */
typedef int (*http_park_fn)(struct http_req *req, void *ctx, int last);
void http_req_park(struct http_req *req, int timeout_s, http_park_fn check, void *ctx,
		   void (*free_ctx)(void *ctx));
/* Wakes every parked request (each runs its check again) and stream.
 * Quick and safe from any thread; call it when what they wait for may have
 * changed (a deployment ended, a dataset ingest finished). */
void http_server_wake_parked(struct http_server *srv);

/* Continues the request on the work pool (opts.work): the connection is
 * suspended, fn(req) runs on a work thread and sets the reply with the
 * http_reply_* calls and reads the request with the accessors as a handler
 * does; then the connection resumes and sends it.  The handler returns
 * right after this call.  A BODY_STREAM route's state lives until fn is
 * done.  At most opts.work's thread count of these run at once; the rest
 * wait their turn with their connection parked. */
typedef void (*http_offload_fn)(struct http_req *req);
void http_req_offload(struct http_req *req, http_offload_fn fn);

unsigned http_status_of(int kiln_code);

#endif
