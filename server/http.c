/*
 * http: the libmicrohttpd daemon and request dispatch (see http.h).
 *
 * Threading: MHD's internal thread pool, each thread with poll(); every
 * callback for one connection runs on the same pool thread, so a struct
 * http_req is never shared between threads.  Not epoll: with libmicrohttpd
 * 0.9.75's epoll mode a client that closes half way through an upload was
 * only noticed at connection_timeout (60 s measured, test_models'
 * a_client_that_stops_half_way_leaves_nothing), holding its temporary file;
 * with poll it is noticed at once, at the same throughput (bench_http.sh).
 *
 * A handler runs on its pool thread and must not hold it for long: there
 * are only 2 x cores of them, and four
 * requests that each held one for a minute stopped kilnd answering
 * /healthz.  So a request that waits parks its connection (http_req_park),
 * heavy work goes to the work pool (http_req_offload), and conversions
 * belong to job workers.  Streams, parked and offloaded requests share one
 * mechanism: struct park, a suspended connection that a wake resumes.
 *
 * What MHD itself answers: a request line or headers larger than
 * connection_memory_limit get 414/431 from MHD before we see them.
 *
 * Slow clients: conn_guard (conn_guard.h) ends connections whose request
 * headers take longer than header_timeout, and makes room near
 * connection_limit; the URI callback (on_uri) refuses %00 and floods of
 * query arguments before libmicrohttpd parses them.
 */
#include "server/http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/db.h"
#include "server/answers.h"
#include "server/conn_guard.h"
#include "server/metrics.h"
#include "server/router.h"
#include "runtime/workpool.h"

/* The API takes a handful of query arguments; a hundred is generous. */
#define HTTP_MAX_QUERY_ARGS 100
/* The longest query an answer is kept for (?limit=&after=&deleted= fit). */
#define HTTP_ANSWER_QUERY_MAX 256

/* Past max_json_body we keep reading (and dropping) this much more so the
 * client can read our 413 instead of a reset; beyond it we hang up. */
#define DISCARD_LIMIT (64u << 20)

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_server_opts opts;
	struct metrics *metrics;
	const char **route_names;
	int port;
	pthread_mutex_t lock;    /* guards in_flight */
	pthread_cond_t idle;     /* signalled when in_flight drops to 0 */
	long in_flight;
	long offloads;           /* requests handed to the work pool, under lock */
	int stopping;            /* set by http_server_stop: parks end (atomic) */
	struct park *parks;      /* live streams and parked requests, under parks_lock */
	pthread_mutex_t parks_lock;
	struct conn_guard *guard; /* header deadlines, room for fresh clients */
	pthread_t ticker;        /* wakes parks whose time has come and reaps slow
	                          * headers, every second */
	int ticker_started;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cond;
	int tick_stop;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	int route_idx;           /* -1 when no route matched */
	struct router_params params;
	struct http_principal who;
	/* body */
	char *body;
	size_t body_len, body_cap;
	uint64_t discarded;
	cJSON *json;
	void *stream_state;
	int stream_open;
	/* reply */
	struct MHD_Response *resp;
	unsigned status;
	uint64_t resp_bytes;
	int queued;
	int begun;               /* headers complete: on_request has seen it */
	char bad_uri[128];       /* why the URL is refused with 400, or "" */
	/* Routes whose answers are kept (ANSWER_FROM_DB, ANSWER_ETAG_FROM_DB):
	 * the raw query (libmicrohttpd splits the original in place), and the
	 * answer being written, to keep */
	char query[HTTP_ANSWER_QUERY_MAX];
	int query_too_long;      /* a long, unknown or '#' query: its answer is not kept */
	int capturing;
	struct answer captured;
	struct timespec t0;
	/* parked (http_req_park) or offloaded (http_req_offload) */
	struct park *park;
	http_park_fn park_check;
	void (*park_free)(void *ctx);
	void *park_ctx;
	http_offload_fn offload_fn;
	int offload_done;        /* atomic: the work pool has run offload_fn */
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

unsigned http_status_of(int code)
{
	switch (code) {
	case KILN_EINVAL: return 400;
	case KILN_EAUTH: return 401;
	case KILN_EFORBIDDEN: return 403;
	case KILN_ENOTFOUND: return 404;
	case KILN_ECONFLICT: return 409;
	case KILN_ETOOBIG: return 413;
	case KILN_EUNPROC: return 422;
	case KILN_EUNAVAIL: return 503;
	case KILN_ENOSPACE: return 507;
	case KILN_ELIMIT: return 429;
	default: return 500;
	}
}

/* --- replies ------------------------------------------------------------- */

static enum http_answer answer_kind(const struct http_req *req)
{
	return req->route_idx >= 0 ? req->srv->opts.routes[req->route_idx].answer : ANSWER_FRESH;
}

static void set_reply(struct http_req *req, unsigned status, struct MHD_Response *resp,
		      uint64_t bytes)
{
	/* One reply per request: a second one is a handler bug; keep the first. */
	if (req->resp != NULL || resp == NULL) {
		if (resp)
			MHD_destroy_response(resp);
		return;
	}
	req->resp = resp;
	req->status = status;
	req->resp_bytes = bytes;
}

void http_reply_bytes(struct http_req *req, unsigned status, const char *content_type,
		      const void *buf, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)buf,
								 MHD_RESPMEM_MUST_COPY);
	if (r && content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	set_reply(req, status, r, len);
}

void http_reply_json(struct http_req *req, unsigned status, cJSON *body)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (text == NULL) {
		static const char oom[] =
			"{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\",\"field\":null}}";
		http_reply_bytes(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	size_t len = strlen(text);
	/* Kept only if this is the reply (the first one, and MHD took it). */
	int keep = req->capturing && answer_kind(req) == ANSWER_FROM_DB && req->resp == NULL &&
		   req->captured.status == 0 && status == 200 && len <= ANSWERS_MAX_BODY;
	char *copy = keep ? malloc(len + 1) : NULL;
	if (copy)
		memcpy(copy, text, len + 1);
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text,
								 MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(copy);
		free(text);
		return;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	set_reply(req, status, r, len);
	if (copy && req->resp == r) {
		req->captured.body = copy;
		req->captured.len = len;
		req->captured.status = status;
		req->captured.content_type = "application/json";
	} else {
		free(copy);
	}
}

void http_reply_error(struct http_req *req, unsigned status, const char *code,
		      const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (field && field[0])
		cJSON_AddStringToObject(e, "field", field);
	else
		cJSON_AddNullToObject(e, "field");
	http_reply_json(req, status, root);
}

void http_reply_kerr(struct http_req *req, const struct kiln_err *err)
{
	unsigned status = http_status_of(err->code);
	http_reply_error(req, status, kiln_code_name(err->code), err->field, "%s",
			 err->msg[0] ? err->msg : "internal error");
	if (status == 401)
		http_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"kiln\"");
}

void http_reply_fd(struct http_req *req, unsigned status, const char *content_type,
		   int fd, uint64_t offset, uint64_t len)
{
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	if (r == NULL) {
		close(fd);
		http_reply_error(req, 500, "io_error", NULL, "cannot send file");
		return;
	}
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	set_reply(req, status, r, len);
}

/* --- conditional and partial replies ----------------------------------------- */

/* 1 when an If-None-Match value names etag ("*" or one of a comma list;
 * weak W/ tags compare by their opaque part, as RFC 9110 13.1.2 asks). */
static int etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, elen) == 0 &&
		    (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

enum range_kind { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

static int parse_u64(const char *s, const char *end, uint64_t *out)
{
	if (s == end || end - s > 19)
		return -1;
	uint64_t v = 0;
	for (const char *p = s; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

/* Parses one "bytes=a-b" / "bytes=a-" / "bytes=-n" against size.  A header
 * we do not serve as a range (several ranges, another unit, bad syntax) is
 * RANGE_NONE: RFC 9110 14.2 lets a server ignore Range and send the whole
 * representation, which every client handles. */
static enum range_kind parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return RANGE_NONE;
	const char *s = h + 6;
	const char *dash = strchr(s, '-');
	if (dash == NULL)
		return RANGE_NONE;
	const char *end = dash + strlen(dash);
	uint64_t a, b;
	if (dash == s) { /* suffix: the last n bytes */
		if (parse_u64(dash + 1, end, &b) != 0)
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*off = size - b;
		*len = b;
		return RANGE_OK;
	}
	if (parse_u64(s, dash, &a) != 0)
		return RANGE_NONE;
	if (dash + 1 == end) {
		b = size ? size - 1 : 0;
	} else {
		if (parse_u64(dash + 1, end, &b) != 0 || b < a)
			return RANGE_NONE;
		if (b >= size)
			b = size ? size - 1 : 0;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*off = a;
	*len = b - a + 1;
	return RANGE_OK;
}

int http_req_fresh(struct http_req *req, const char *etag)
{
	const char *inm = etag ? http_req_header(req, "If-None-Match") : NULL;
	return inm != NULL && etag_matches(inm, etag);
}

void http_reply_file(struct http_req *req, int fd, uint64_t size, const char *content_type,
		     const char *etag)
{
	if (http_req_fresh(req, etag)) {
		close(fd);
		http_reply_empty(req, 304);
		http_reply_header(req, "ETag", etag);
		return;
	}
	uint64_t off = 0, len = size;
	enum range_kind rk = RANGE_NONE;
	const char *range = http_req_header(req, "Range");
	const char *if_range = http_req_header(req, "If-Range");
	/* If-Range with another validator: the bytes changed since the client's
	 * partial copy, so it gets the whole new file rather than a splice. */
	if (range && (if_range == NULL || (etag && strcmp(if_range, etag) == 0)))
		rk = parse_range(range, size, &off, &len);
	char cr[96];
	if (rk == RANGE_UNSATISFIABLE) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		http_reply_error(req, 416, "range_not_satisfiable", "Range",
				 "the range '%.64s' starts past the end of the %" PRIu64
				 "-byte file", range, size);
		http_reply_header(req, "Content-Range", cr);
		if (etag)
			http_reply_header(req, "ETag", etag);
		return;
	}
	http_reply_fd(req, rk == RANGE_OK ? 206 : 200, content_type, fd, off, len);
	if (rk == RANGE_OK) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, size);
		http_reply_header(req, "Content-Range", cr);
	}
	if (etag)
		http_reply_header(req, "ETag", etag);
	http_reply_header(req, "Accept-Ranges", "bytes");
}

void http_reply_empty(struct http_req *req, unsigned status)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL,
								 MHD_RESPMEM_PERSISTENT);
	set_reply(req, status, r, 0);
	/* An ANSWER_ETAG_FROM_DB route's 304, if this is the reply: kept with
	 * the headers that follow (its ETag), for the next revalidation. */
	if (req->capturing && answer_kind(req) == ANSWER_ETAG_FROM_DB && status == 304 &&
	    req->resp == r && r != NULL && req->captured.status == 0)
		req->captured.status = status;
}

void http_reply_header(struct http_req *req, const char *name, const char *value)
{
	if (req->resp == NULL)
		return;
	MHD_add_response_header(req->resp, name, value);
	struct answer *a = &req->captured;
	if (a->status == 0)
		return;
	char *n = a->n_headers < ANSWERS_MAX_HEADERS ? strdup(name) : NULL;
	char *v = n ? strdup(value) : NULL;
	if (v == NULL) { /* an answer kept without all its headers would be wrong */
		free(n);
		answers_clear(a);
		return;
	}
	a->headers[a->n_headers][0] = n;
	a->headers[a->n_headers][1] = v;
	a->n_headers++;
}

/* --- answers served again (server/answers.h) ------------------------------ */

static int answer_key(struct http_req *req, struct answers_key *k)
{
	const struct http_route *route = &req->srv->opts.routes[req->route_idx];
	if (route->answer == ANSWER_FRESH || req->srv->opts.answers_db == NULL ||
	    req->query_too_long)
		return -1;
	/* Only a 304 of these is kept: a request that cannot get one (no
	 * If-None-Match: a download) neither looks nor brackets its reads. */
	if (route->answer == ANSWER_ETAG_FROM_DB && http_req_header(req, "If-None-Match") == NULL)
		return -1;
	*k = (struct answers_key){.route = req->route_idx, .token_id = req->who.token_id,
				  .role = (int)req->who.role, .path = req->url,
				  .query = req->query};
	return 0;
}

static long long now_ms(void);

/* The value of a kept answer's header name, or NULL. */
static const char *kept_header(const struct answer *a, const char *name)
{
	for (int i = 0; i < a->n_headers; i++)
		if (strcasecmp(a->headers[i][0], name) == 0)
			return a->headers[i][1];
	return NULL;
}

/* Replies with a kept answer; 0 when there was one. */
static int reply_kept(struct http_req *req, const struct answers_key *k)
{
	const struct answer *a = answers_find(req->srv->opts.answers_db, k, now_ms());
	if (a == NULL)
		return -1;
	if (a->status == 304) {
		/* The ETag the handler would compare, as it would (http_req_fresh):
		 * any other If-None-Match goes to the handler for its 200. */
		const char *etag = kept_header(a, "ETag");
		if (etag == NULL || !http_req_fresh(req, etag))
			return -1;
		http_reply_empty(req, 304);
	} else {
		http_reply_bytes(req, a->status, a->content_type, a->body, a->len);
	}
	if (req->resp == NULL)
		return -1; /* out of memory: the handler answers instead */
	for (int i = 0; i < a->n_headers; i++)
		http_reply_header(req, a->headers[i][0], a->headers[i][1]);
	answers_served();
	return 0;
}

/* --- parks: connections no thread waits for ------------------------------ */

/* A suspended connection and what resumes it.  The owner (a stream's
 * reader, or on_request for a parked request) runs on the connection's
 * pool thread; when it has nothing to do it calls park_suspend(), and
 * park_wake() from any thread resumes it.  `pending` closes the race
 * between the owner finding nothing and the suspend: a wake in between
 * sets it, and the owner wakes itself.  `refs`: the connection's own, plus
 * one per thread that may still wake it (the ticker's copy, an offloaded
 * task), so a park is freed only when nobody can touch it. */
struct park {
	struct http_server *srv;
	struct MHD_Connection *conn;
	int parked;              /* atomic: suspended and waiting for a wake */
	int pending;             /* atomic: a wake came since the last look */
	long long due_ms;        /* atomic: the ticker wakes it then (monotonic); 0 never */
	int refs;                /* under srv->parks_lock */
	long long token_id;      /* a stream's token (0: anonymous, or not a stream) */
	int revoked;             /* atomic: its token was revoked: end it */
	struct park *prev, *next; /* srv->parks, under srv->parks_lock */
};

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void park_wake(struct park *p)
{
	__atomic_store_n(&p->pending, 1, __ATOMIC_RELEASE);
	if (__atomic_exchange_n(&p->parked, 0, __ATOMIC_ACQ_REL))
		MHD_resume_connection(p->conn);
}

/* On the connection's thread, before looking for something to do. */
static void park_look(struct park *p)
{
	__atomic_store_n(&p->pending, 0, __ATOMIC_RELEASE);
}

/* On the connection's thread, after finding nothing: suspend until a wake,
 * or at the latest until due_ms (0: only a wake). */
static void park_suspend(struct park *p, long long due_ms)
{
	__atomic_store_n(&p->due_ms, due_ms, __ATOMIC_RELEASE);
	MHD_suspend_connection(p->conn);
	__atomic_store_n(&p->parked, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&p->srv->stopping, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&p->revoked, __ATOMIC_ACQUIRE))
		park_wake(p);
}

static struct park *park_new(struct http_server *srv, struct MHD_Connection *conn)
{
	struct park *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->srv = srv;
	p->conn = conn;
	p->refs = 1; /* the connection's, dropped by park_unlink */
	pthread_mutex_lock(&srv->parks_lock);
	p->next = srv->parks;
	if (p->next)
		p->next->prev = p;
	srv->parks = p;
	pthread_mutex_unlock(&srv->parks_lock);
	return p;
}

static void park_ref(struct park *p)
{
	pthread_mutex_lock(&p->srv->parks_lock);
	p->refs++;
	pthread_mutex_unlock(&p->srv->parks_lock);
}

static void park_unref(struct park *p)
{
	pthread_mutex_lock(&p->srv->parks_lock);
	int last = --p->refs == 0;
	pthread_mutex_unlock(&p->srv->parks_lock);
	if (last)
		free(p);
}

/* The connection is done with p: off the list, its reference dropped. */
static void park_unlink(struct park *p)
{
	struct http_server *srv = p->srv;
	pthread_mutex_lock(&srv->parks_lock);
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->parks = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	pthread_mutex_unlock(&srv->parks_lock);
	park_unref(p);
}

/* Wakes every park (all = 1: shutdown, http_server_wake_parked), those
 * whose due time has passed (the ticker), or (token_id > 0) the streams of
 * a revoked token, marked so they end.  The list is copied (with a
 * reference each) so no lock of ours is held while libmicrohttpd resumes a
 * connection: its own locks are taken there, and it may complete the
 * request (park_unlink) under them. */
static void wake_parks(struct http_server *srv, int all, long long token_id)
{
	long long now = now_ms();
	pthread_mutex_lock(&srv->parks_lock);
	size_t n = 0;
	for (struct park *p = srv->parks; p; p = p->next)
		n++;
	struct park **pick = n ? calloc(n, sizeof(*pick)) : NULL;
	size_t i = 0;
	for (struct park *p = srv->parks; pick && p; p = p->next) {
		long long due = __atomic_load_n(&p->due_ms, __ATOMIC_ACQUIRE);
		if (token_id > 0) {
			if (p->token_id != token_id)
				continue;
			__atomic_store_n(&p->revoked, 1, __ATOMIC_RELEASE);
		}
		if (all || token_id > 0 || (due > 0 && due <= now)) {
			p->refs++;
			pick[i++] = p;
		}
	}
	pthread_mutex_unlock(&srv->parks_lock);
	for (size_t k = 0; k < i; k++) {
		park_wake(pick[k]);
		park_unref(pick[k]);
	}
	free(pick);
}

void http_server_wake_parked(struct http_server *srv)
{
	if (srv)
		wake_parks(srv, 1, 0);
}

void http_server_end_streams(struct http_server *srv, long long token_id)
{
	if (srv && token_id > 0)
		wake_parks(srv, 0, token_id);
}

/* The ticker: one second is the resolution of a park's deadline (a
 * ?wait=N answers within a second of N), and costs one list walk. */
static void *ticker_main(void *arg)
{
	struct http_server *srv = arg;
	pthread_mutex_lock(&srv->tick_lock);
	while (!srv->tick_stop) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		pthread_cond_timedwait(&srv->tick_cond, &srv->tick_lock, &t);
		if (srv->tick_stop)
			break;
		pthread_mutex_unlock(&srv->tick_lock);
		wake_parks(srv, 0, 0);
		size_t cut = conn_guard_reap(srv->guard);
		if (cut)
			metrics_connections_cut(srv->metrics, cut, 0);
		pthread_mutex_lock(&srv->tick_lock);
	}
	pthread_mutex_unlock(&srv->tick_lock);
	return NULL;
}

/* --- streamed replies ------------------------------------------------------- */

/* A streamed reply: a park whose owner is MHD's content reader.  When
 * read_fn has nothing, the connection is parked until http_stream_wake()
 * (a new event) or HTTP_STREAM_TICK_S (keep-alives); at shutdown every
 * stream is woken, sees `stopping` and ends. */
struct http_stream {
	struct park *park;
	http_stream_read_fn read_fn;
	http_stream_free_fn free_fn;
	void *ctx;
};

void http_stream_wake(struct http_stream *s)
{
	park_wake(s->park);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct http_stream *s = cls;
	/* A stream never ends by itself while a job runs: end it when the
	 * server stops, or shutdown would wait out the whole grace period.
	 * The client reconnects later (Last-Event-ID) and misses nothing. */
	if (__atomic_load_n(&s->park->srv->stopping, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&s->park->revoked, __ATOMIC_ACQUIRE))
		return MHD_CONTENT_READER_END_OF_STREAM;
	park_look(s->park);
	long n = s->read_fn(s->ctx, buf, max);
	if (n > 0)
		return (ssize_t)n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	park_suspend(s->park, now_ms() + HTTP_STREAM_TICK_S * 1000LL);
	return 0;
}

static void stream_free(void *cls)
{
	struct http_stream *s = cls;
	if (s->free_fn)
		s->free_fn(s->ctx); /* after this no event calls http_stream_wake(s) */
	park_unlink(s->park);
	free(s);
}

void http_reply_stream(struct http_req *req, unsigned status, const char *content_type,
		       http_stream_read_fn read_fn, http_stream_free_fn free_fn, void *ctx,
		       struct http_stream **handle)
{
	struct http_stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *r = NULL;
	if (s != NULL && (s->park = park_new(req->srv, req->conn)) != NULL) {
		s->read_fn = read_fn;
		s->free_fn = free_fn;
		s->ctx = ctx;
		s->park->token_id = req->who.token_id;
		/* 16 KiB: one read_fn call fills at most this much. */
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s,
						      stream_free);
	}
	if (r == NULL) {
		if (s && s->park)
			park_unlink(s->park);
		free(s);
		if (free_fn)
			free_fn(ctx);
		if (handle)
			*handle = NULL;
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	if (handle)
		*handle = s;
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	set_reply(req, status, r, 0);
}

/* --- parked and offloaded requests ----------------------------------------- */

void http_req_park(struct http_req *req, int timeout_s, http_park_fn check, void *ctx,
		   void (*free_ctx)(void *ctx))
{
	if (req->park != NULL || req->resp != NULL) {
		if (free_ctx)
			free_ctx(ctx);
		return; /* a handler bug: keep the first answer */
	}
	req->capturing = 0; /* answered later, maybe on another thread: never kept */
	req->park = park_new(req->srv, req->conn);
	if (req->park == NULL) {
		if (free_ctx)
			free_ctx(ctx);
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	req->park_check = check;
	req->park_ctx = ctx;
	req->park_free = free_ctx;
	/* Until then the request waits for wakes; then check() must answer. */
	__atomic_store_n(&req->park->due_ms,
			 now_ms() + (long long)(timeout_s > 0 ? timeout_s : 0) * 1000, __ATOMIC_RELEASE);
}

static void offload_run(void *arg, int cancelled)
{
	struct http_req *req = arg;
	struct park *p = req->park;
	if (cancelled)
		http_reply_error(req, 503, "unavailable", NULL,
				 "kilnd is stopping; send the request again once it is back");
	else
		req->offload_fn(req);
	/* Publishes the reply to the connection's thread, which reads it only
	 * after seeing offload_done; then req may be gone, p is still ours. */
	__atomic_store_n(&req->offload_done, 1, __ATOMIC_RELEASE);
	park_wake(p);
	park_unref(p);
}

void http_req_offload(struct http_req *req, http_offload_fn fn)
{
	struct http_server *srv = req->srv;
	if (req->park != NULL || req->resp != NULL)
		return;
	req->capturing = 0; /* the pool's thread writes the reply: never kept */
	if (srv->opts.work == NULL) { /* no pool (unit tests): run it here */
		fn(req);
		return;
	}
	req->park = park_new(srv, req->conn);
	if (req->park == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	req->offload_fn = fn;
	park_ref(req->park); /* the task's */
	pthread_mutex_lock(&srv->lock);
	srv->offloads++;
	pthread_mutex_unlock(&srv->lock);
	struct kiln_err err;
	kiln_err_clear(&err);
	if (workpool_submit(srv->opts.work, offload_run, req, &err) != 0) {
		park_unref(req->park);
		http_reply_kerr(req, &err);
		__atomic_store_n(&req->offload_done, 1, __ATOMIC_RELEASE);
	}
}

/* On the connection's thread: is the parked or offloaded request answered
 * now?  1 when it has its reply. */
static int park_settled(struct http_req *req)
{
	if (req->offload_fn)
		return __atomic_load_n(&req->offload_done, __ATOMIC_ACQUIRE);
	if (req->resp)
		return 1;
	park_look(req->park);
	int last = __atomic_load_n(&req->srv->stopping, __ATOMIC_ACQUIRE) ||
		   now_ms() >= __atomic_load_n(&req->park->due_ms, __ATOMIC_ACQUIRE);
	if (req->park_check(req, req->park_ctx, last) || req->resp)
		return 1;
	if (last) /* check() broke its contract: answer for it */
		http_reply_error(req, 500, "internal", NULL, "the wait ended without an answer");
	return last;
}

/* The request no longer needs its park (answered, or the client left). */
static void park_release(struct http_req *req)
{
	if (req->park == NULL)
		return;
	if (req->park_free)
		req->park_free(req->park_ctx);
	req->park_free = NULL;
	park_unlink(req->park);
	req->park = NULL;
	if (req->offload_fn) {
		struct http_server *srv = req->srv;
		pthread_mutex_lock(&srv->lock);
		if (--srv->offloads == 0)
			pthread_cond_broadcast(&srv->idle);
		pthread_mutex_unlock(&srv->lock);
	}
}

/* --- accessors ------------------------------------------------------------- */

void *http_req_app(struct http_req *req) { return req->srv->opts.app; }
const char *http_req_method(const struct http_req *req) { return req->method; }
const char *http_req_path(const struct http_req *req) { return req->url; }
const struct http_principal *http_req_who(const struct http_req *req) { return &req->who; }
const cJSON *http_req_json(const struct http_req *req) { return req->json; }
void *http_req_stream_state(const struct http_req *req) { return req->stream_state; }
struct http_server *http_req_server(struct http_req *req) { return req->srv; }
struct metrics *http_server_metrics(struct http_server *srv) { return srv->metrics; }
int http_server_port(const struct http_server *srv) { return srv->port; }

const char *http_req_param(const struct http_req *req, const char *name)
{
	for (int i = 0; i < req->params.n; i++)
		if (strcmp(req->params.p[i].name, name) == 0)
			return req->params.p[i].value;
	return NULL;
}

const char *http_req_query(struct http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_req_header(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_cookie(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

int http_req_page(struct http_req *req, int *limit, long long *after)
{
	const char *l = http_req_query(req, "limit");
	const char *a = http_req_query(req, "after");
	*limit = 50;
	*after = 0;
	char *end;
	if (l) {
		long v = strtol(l, &end, 10);
		if (*l == '\0' || *end != '\0' || v < 1 || v > 1000) {
			http_reply_error(req, 400, "invalid", "limit",
					 "limit must be a whole number from 1 to 1000");
			return -1;
		}
		*limit = (int)v;
	}
	if (a) {
		errno = 0;
		long long v = strtoll(a, &end, 10);
		if (*a == '\0' || *end != '\0' || v < 0 || errno == ERANGE) {
			http_reply_error(req, 400, "invalid", "after",
					 "after must be the 'next' value of the previous page");
			return -1;
		}
		*after = v;
	}
	return 0;
}

/* --- multipart ------------------------------------------------------------ */

struct http_multipart {
	struct MHD_PostProcessor *pp;
	http_part_fn fn;
	void *cls;
	int stopped;
};

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	struct http_multipart *mp = cls;
	if (mp->fn(mp->cls, key, filename, data, off, size) != 0) {
		mp->stopped = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

struct http_multipart *http_multipart_new(struct http_req *req, http_part_fn fn, void *cls)
{
	const char *ct = http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return NULL;
	struct http_multipart *mp = calloc(1, sizeof(*mp));
	if (mp == NULL)
		return NULL;
	mp->fn = fn;
	mp->cls = cls;
	/* 64 KiB: the post processor's window for part headers and one piece
	 * of data; file data streams through it, never accumulates. */
	mp->pp = MHD_create_post_processor(req->conn, 64 * 1024, on_part, mp);
	if (mp->pp == NULL) {
		free(mp);
		return NULL;
	}
	return mp;
}

int http_multipart_feed(struct http_multipart *mp, const char *data, size_t len)
{
	if (mp->stopped)
		return -1;
	return MHD_post_process(mp->pp, data, len) == MHD_YES && !mp->stopped ? 0 : -1;
}

void http_multipart_free(struct http_multipart *mp)
{
	if (mp == NULL)
		return;
	MHD_destroy_post_processor(mp->pp);
	free(mp);
}

/* --- access log ----------------------------------------------------------- */

/* Copies s into out with control characters, quotes and spaces escaped, so
 * one request is always one parseable line whatever its path holds. */
static void log_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; s && *s && o + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x21 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

static void access_log(struct http_req *req, double secs)
{
	FILE *f = req->srv->opts.access_log;
	if (f == NULL)
		return;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char path[1024], method[32];
	log_escape(req->url, path, sizeof(path));
	log_escape(req->method, method, sizeof(method));
	char line[1400];
	int n = snprintf(line, sizeof(line),
		"time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ method=%s path=%s status=%u "
		"bytes=%llu dur_ms=%.3f route=%s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, method, path, req->status,
		(unsigned long long)req->resp_bytes, secs * 1e3,
		req->route_idx >= 0 ? req->srv->opts.routes[req->route_idx].name : "-");
	if (n > 0) {
		/* One write per line: lines from pool threads never interleave. */
		size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
		ssize_t w = write(fileno(f), line, len);
		(void)w;
	}
}

/* --- dispatch ------------------------------------------------------------- */

static int body_announced(struct http_req *req)
{
	const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te != NULL || (cl != NULL && strcmp(cl, "0") != 0);
}

static void authenticate(struct http_req *req, const struct http_route *route)
{
	req->who.role = ROLE_ANON;
	const char *h = http_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	if (route->role == ROLE_ANON)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	/* No Authorization header: the dashboard's session cookie, if any.
	 * A cookie rides along on cross-site requests too, so anything but
	 * GET/HEAD must also prove it came from our page (X-CSRF-Token). */
	const char *sid = h == NULL && req->srv->opts.check_session ?
			  http_req_cookie(req, HTTP_SESSION_COOKIE) : NULL;
	if (sid != NULL) {
		int unsafe = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
		int rc = req->srv->opts.check_session(req->srv->opts.app, sid,
						      http_req_header(req, "X-CSRF-Token"),
						      unsafe, &req->who, &err);
		if (rc != 0) {
			req->who.role = ROLE_ANON;
			if (rc == KILN_EAUTH) {
				http_reply_error(req, 401, "session_expired", NULL, "%s", err.msg);
				http_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						  "Bearer realm=\"kiln\"");
			} else if (rc == KILN_EFORBIDDEN) {
				http_reply_error(req, 403, "csrf_failed", err.field, "%s", err.msg);
			} else {
				http_reply_kerr(req, &err);
			}
			return;
		}
	} else if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		http_reply_error(req, 401, "unauthorized", NULL,
				 "this endpoint needs 'Authorization: Bearer <token>'; the first "
				 "admin token is in <data_dir>/admin.token");
		http_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"kiln\"");
		return;
	}
	const char *tok = sid ? NULL : h + 7;
	while (tok && *tok == ' ')
		tok++;
	int rc = tok ? req->srv->opts.authenticate(req->srv->opts.app, tok, &req->who, &err) : 0;
	if (rc != 0) {
		req->who.role = ROLE_ANON;
		if (rc != KILN_EAUTH) {
			http_reply_kerr(req, &err);
			return;
		}
		http_reply_error(req, 401, "unauthorized", NULL, "%s", err.msg);
		http_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				  "Bearer realm=\"kiln\", error=\"invalid_token\"");
		return;
	}
	int ok;
	if (route->role == ROLE_DEVICE)
		ok = req->who.role == ROLE_DEVICE;
	else
		ok = req->who.role >= route->role && req->who.role != ROLE_DEVICE;
	if (!ok)
		http_reply_error(req, 403, "forbidden", NULL,
				 "a %s token cannot use this endpoint; it needs %s",
				 req->who.role == ROLE_DEVICE ? "device" :
				 req->who.role == ROLE_ADMIN ? "admin" : "user",
				 route->role == ROLE_ADMIN ? "an admin token" :
				 route->role == ROLE_DEVICE ? "a device token" : "a user or admin token");
}

/* Called with the headers of a new request. */
static void begin_request(struct http_req *req)
{
	struct http_server *srv = req->srv;
	char allow[128];
	int idx = router_match(srv->opts.routes, srv->opts.n_routes, req->method, req->url,
			       &req->params, allow, sizeof(allow));
	req->route_idx = idx >= 0 ? idx : -1;
	if (idx == ROUTER_NOT_FOUND) {
		http_reply_error(req, 404, "not_found", NULL, "no such endpoint: %s %.200s",
				 req->method, req->url);
		return;
	}
	if (idx == ROUTER_NO_METHOD) {
		http_reply_error(req, 405, "method_not_allowed", NULL,
				 "%s is not allowed on %.200s; allowed: %s", req->method,
				 req->url, allow);
		http_reply_header(req, MHD_HTTP_HEADER_ALLOW, allow);
		return;
	}
	const struct http_route *route = &srv->opts.routes[idx];
	authenticate(req, route);
	if (req->resp)
		return;
	if (route->body == BODY_NONE && body_announced(req)) {
		http_reply_error(req, 400, "body_not_allowed", NULL,
				 "%s %s takes no request body", route->method, route->pattern);
		return;
	}
	if (route->body == BODY_JSON) {
		const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > srv->opts.max_json_body)
			http_reply_error(req, 413, "too_large", NULL,
					 "the JSON body is %s bytes; the limit is %zu (max_json_body)",
					 cl, srv->opts.max_json_body);
		return;
	}
	if (route->body == BODY_STREAM) {
		struct kiln_err err;
		kiln_err_clear(&err);
		if (route->stream->begin(req, &req->stream_state, &err) != 0)
			http_reply_kerr(req, &err);
		else
			req->stream_open = 1;
	}
}

/* Frees a stream route's state as soon as the answer is decided, so what it
 * holds (a temporary upload file) is gone before the client reads the
 * reply. */
static void end_stream(struct http_req *req)
{
	if (!req->stream_open)
		return;
	req->stream_open = 0;
	req->srv->opts.routes[req->route_idx].stream->free(req->stream_state);
	req->stream_state = NULL;
}

/* Handles one chunk of body; returns MHD_NO to hang up. */
static enum MHD_Result take_body(struct http_req *req, const char *data, size_t len)
{
	if (req->resp) {
		/* The answer is decided; drop the rest, within reason. */
		req->discarded += len;
		return req->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
	}
	const struct http_route *route = &req->srv->opts.routes[req->route_idx];
	if (route->body == BODY_STREAM) {
		struct kiln_err err;
		kiln_err_clear(&err);
		if (route->stream->data(req->stream_state, data, len, &err) != 0) {
			http_reply_kerr(req, &err);
			end_stream(req);
		}
		return MHD_YES;
	}
	size_t max = req->srv->opts.max_json_body;
	if (req->body_len + len > max) {
		http_reply_error(req, 413, "too_large", NULL,
				 "the JSON body is over %zu bytes (max_json_body)", max);
		return MHD_YES;
	}
	if (req->body_len + len + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 4096;
		while (cap < req->body_len + len + 1)
			cap *= 2;
		char *nb = realloc(req->body, cap);
		if (nb == NULL) {
			http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
			return MHD_YES;
		}
		req->body = nb;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return MHD_YES;
}

static void run_handler(struct http_req *req)
{
	const struct http_route *route = &req->srv->opts.routes[req->route_idx];
	if (route->body == BODY_JSON) {
		if (req->body_len == 0) {
			http_reply_error(req, 400, "invalid_json", NULL,
					 "this endpoint needs a JSON body");
			return;
		}
		if (memchr(req->body, '\0', req->body_len) != NULL) {
			http_reply_error(req, 400, "invalid_json", NULL,
					 "the body holds a NUL byte; JSON text cannot");
			return;
		}
		const char *end = NULL;
		/* The length includes our NUL: cJSON's "nothing after the value"
		 * check looks for it, and a NUL inside the body ends it early. */
		req->json = cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, &end, 1);
		if (req->json == NULL) {
			size_t at = end ? (size_t)(end - req->body) : 0;
			http_reply_error(req, 400, "invalid_json", NULL,
					 "the body is not valid JSON (error near byte %zu)", at);
			return;
		}
	}
	struct answers_key key;
	struct db_reads reads;
	struct db *adb = req->srv->opts.answers_db;
	int keepable = answer_key(req, &key) == 0;
	if (keepable && reply_kept(req, &key) == 0)
		return;
	req->capturing = keepable && db_reads_begin(adb, &reads) == 0;
	route->handler(req);
	if (req->capturing && req->park == NULL && req->captured.status != 0) {
		struct db_stamp stamp;
		db_reads_end(adb, &reads, &stamp);
		answers_keep(adb, &key, &stamp, now_ms(), &req->captured);
	}
	req->capturing = 0;
	answers_clear(&req->captured);
	if (req->park != NULL)
		return; /* answered later: the upload state lives until then */
	end_stream(req);
	if (req->resp == NULL)
		http_reply_error(req, 500, "internal", NULL, "the handler gave no reply");
}

static struct http_req *new_req(struct http_server *srv, struct MHD_Connection *conn,
			       const char *raw_uri)
{
	struct http_req *req = calloc(1, sizeof(*req));
	if (req == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &req->t0);
	req->srv = srv;
	req->conn = conn;
	req->route_idx = -1;
	if (raw_uri == NULL) { /* on_uri ran out of memory: the query is unknown */
		req->query_too_long = 1;
		return req;
	}
	/* libmicrohttpd decodes %00 into a NUL that silently cuts the path
	 * or value: refuse it instead (issue 14 item 7). */
	if (strstr(raw_uri, "%00") != NULL)
		snprintf(req->bad_uri, sizeof(req->bad_uri),
			 "the URL holds %%00 (a NUL byte), which no path or query value may hold");
	/* Each query argument takes room in the connection's memory; ~1000 of
	 * them exhausted it and libmicrohttpd closed the connection without a
	 * word.  Past HTTP_MAX_QUERY_ARGS the query is blanked before it is
	 * parsed (the string is the connection's read buffer, writable: the
	 * callback runs before libmicrohttpd 0.9.75 splits the arguments out of
	 * it, see parse_initial_message_line) and the request gets a 400. */
	char *q = strchr(raw_uri, '?');
	if (q != NULL) {
		size_t qlen = strlen(q + 1);
		if (qlen < sizeof(req->query) && strchr(q + 1, '#') == NULL)
			memcpy(req->query, q + 1, qlen);
		else
			req->query_too_long = 1;
		size_t n = 1;
		for (const char *c = q + 1; *c && *c != '#'; c++)
			n += *c == '&';
		if (n > HTTP_MAX_QUERY_ARGS) {
			q[1] = '\0';
			snprintf(req->bad_uri, sizeof(req->bad_uri),
				 "the URL has %zu query arguments; at most %d are taken", n,
				 HTTP_MAX_QUERY_ARGS);
		}
	}
	return req;
}

/* MHD_OPTION_URI_LOG_CALLBACK: runs with the raw request line's URI, before
 * libmicrohttpd decodes it; what it returns is the request's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	return new_req(cls, conn, uri);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)version;
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;
	if (req == NULL) /* on_uri ran out of memory */
		*con_cls = req = new_req(srv, conn, NULL);
	if (req == NULL)
		return MHD_NO;
	if (!req->begun) {
		req->begun = 1;
		req->url = url;
		req->method = method;
		/* The headers are in: no deadline while the request runs. */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci)
			conn_guard_busy(srv->guard, ci->socket_context);
		pthread_mutex_lock(&srv->lock);
		srv->in_flight++;
		pthread_mutex_unlock(&srv->lock);
		metrics_in_flight(srv->metrics, 1);
		if (req->bad_uri[0])
			http_reply_error(req, 400, "bad_request", NULL, "%s", req->bad_uri);
		else
			begin_request(req);
		if (req->resp == NULL)
			return MHD_YES; /* wait for the body (or its absence) */
	} else if (*upload_data_size > 0) {
		enum MHD_Result r = take_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return r;
	} else if (req->park == NULL && req->resp == NULL) {
		run_handler(req);
	}
	/* A parked or offloaded request: its park is checked first, because an
	 * offloaded handler may be writing req's reply on another thread until
	 * park_settled() says it is done. */
	if (req->park != NULL) {
		if (!park_settled(req)) {
			park_suspend(req->park, __atomic_load_n(&req->park->due_ms, __ATOMIC_ACQUIRE));
			return MHD_YES;
		}
		park_release(req);
		end_stream(req);
		if (req->resp == NULL)
			http_reply_error(req, 500, "internal", NULL, "the handler gave no reply");
	}
	if (req->queued)
		return MHD_YES;
	req->queued = 1;
	/* Counted when queued, not when sent: a client that has its answer
	 * then reads /metrics must find its request there. */
	metrics_observe(srv->metrics, req->route_idx, req->status, seconds_since(&req->t0));
	/* Every reply: a browser must not guess HTML or script from bytes an
	 * upload put there (a model, a bundle file, a log line). */
	MHD_add_response_header(req->resp, "X-Content-Type-Options", "nosniff");
	return MHD_queue_response(conn, req->status, req->resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;
	if (req == NULL)
		return;
	*con_cls = NULL;
	if (!req->begun) { /* gone before its headers were complete */
		free(req);
		return;
	}
	/* A kept-alive connection now waits for the next request's headers. */
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci)
		conn_guard_idle(srv->guard, ci->socket_context);
	double secs = seconds_since(&req->t0);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !req->queued)
		req->status = 499; /* client went away before we answered (nginx's 499) */
	park_release(req);
	end_stream(req); /* before the 499 count, which tests wait on */
	if (!req->queued)
		metrics_observe(srv->metrics, req->route_idx, req->status, secs);
	access_log(req, secs);
	if (req->resp)
		MHD_destroy_response(req->resp);
	cJSON_Delete(req->json);
	free(req->body);
	answers_clear(&req->captured);
	free(req);
	metrics_in_flight(srv->metrics, -1);
	pthread_mutex_lock(&srv->lock);
	if (--srv->in_flight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

/* MHD calls CLOSED before it closes the socket, so the guard never
 * shuts down a reused fd number. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	metrics_connections(srv->metrics, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		int evicted = 0;
		*socket_context = ci ? conn_guard_open(srv->guard, ci->connect_fd, &evicted) : NULL;
		if (evicted)
			metrics_connections_cut(srv->metrics, 0, 1);
	} else {
		conn_guard_close(srv->guard, *socket_context);
		*socket_context = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	char esc[1024];
	size_t o = 0;
	for (size_t i = 0; msg[i] && o + 2 < sizeof(esc); i++) {
		if (msg[i] == '"' || msg[i] == '\\')
			esc[o++] = '\\';
		esc[o++] = msg[i] == '\n' ? ' ' : msg[i];
	}
	esc[o] = '\0';
	fprintf(stderr, "level=warn component=http msg=\"%s\"\n", esc);
}

int http_server_start(const struct http_server_opts *opts, struct http_server **out,
		      struct kiln_err *err)
{
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	char port[16];
	snprintf(port, sizeof(port), "%d", opts->port);
	if (getaddrinfo(opts->host, port, &hints, &ai) != 0 || ai == NULL)
		return kiln_errf(err, KILN_EINVAL, "listen",
				 "listen host '%s' is not a numeric IP address", opts->host);
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		freeaddrinfo(ai);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	srv->opts = *opts;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	pthread_mutex_init(&srv->parks_lock, NULL);
	pthread_mutex_init(&srv->tick_lock, NULL);
	pthread_cond_init(&srv->tick_cond, NULL);
	srv->route_names = calloc(opts->n_routes, sizeof(char *));
	for (size_t i = 0; srv->route_names && i < opts->n_routes; i++)
		srv->route_names[i] = opts->routes[i].name;
	srv->metrics = srv->route_names ? metrics_new(srv->route_names, opts->n_routes) : NULL;
	/* Room is made at 7/8 of the limit, before libmicrohttpd's own limit
	 * refuses everyone: its limit is split among the pool threads, so a
	 * thread can be full before the total is reached. */
	long limit = opts->connection_limit;
	srv->guard = conn_guard_new(opts->header_timeout, limit - limit / 8);
	if (srv->metrics == NULL || srv->guard == NULL) {
		freeaddrinfo(ai);
		http_server_stop(srv, 0);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->mhd = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL,
		on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opts->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)opts->connection_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)opts->per_ip_connection_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opts->connection_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->connection_memory_limit,
		/* Uploads arrive in reads of up to this much: 64 KiB chunks make
		 * a 1 GiB upload ~1.3x faster than MHD's 1 KiB default steps. */
		MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)(64 * 1024),
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		/* 0: no SO_REUSEPORT, so a second kilnd on the same port fails
		 * to start instead of sharing its connections (libmicrohttpd
		 * still sets SO_REUSEADDR, so a restart is not held up). */
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)0,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (srv->mhd == NULL) {
		int e = errno;
		http_server_stop(srv, 0);
		return kiln_errf(err, KILN_EIO, "listen", "cannot listen on %s:%d: %s",
				 opts->host, opts->port, e ? strerror(e) : "libmicrohttpd refused");
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd,
							       MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : opts->port;
	if (pthread_create(&srv->ticker, NULL, ticker_main, srv) == 0)
		srv->ticker_started = 1;
	*out = srv;
	return 0;
}

void http_server_stop(struct http_server *srv, int grace_s)
{
	if (srv == NULL)
		return;
	if (srv->mhd) {
		/* Stop accepting first, then give requests already in progress
		 * their grace period, then close everything. */
		MHD_socket ls = MHD_quiesce_daemon(srv->mhd);
		__atomic_store_n(&srv->stopping, 1, __ATOMIC_RELEASE);
		wake_parks(srv, 1, 0); /* parked streams and waits see `stopping` and end */
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += grace_s;
		pthread_mutex_lock(&srv->lock);
		while (srv->in_flight > 0 &&
		       pthread_cond_timedwait(&srv->idle, &srv->lock, &deadline) == 0)
			;
		pthread_mutex_unlock(&srv->lock);
		/* Offloaded requests past the grace: the queued ones answer 503 at
		 * once; running ones are waited for, however long, because their
		 * task writes into the request and libmicrohttpd aborts when
		 * stopped with a connection still suspended. */
		workpool_cancel_queued(srv->opts.work);
		pthread_mutex_lock(&srv->lock);
		while (srv->offloads > 0)
			pthread_cond_wait(&srv->idle, &srv->lock);
		pthread_mutex_unlock(&srv->lock);
		wake_parks(srv, 1, 0);
		MHD_stop_daemon(srv->mhd);
		/* Only now: MHD's threads may use the socket until they stop. */
		if (ls != MHD_INVALID_SOCKET)
			close(ls);
	}
	if (srv->ticker_started) {
		pthread_mutex_lock(&srv->tick_lock);
		srv->tick_stop = 1;
		pthread_cond_signal(&srv->tick_cond);
		pthread_mutex_unlock(&srv->tick_lock);
		pthread_join(srv->ticker, NULL);
	}
	metrics_free(srv->metrics);
	conn_guard_free(srv->guard);
	free(srv->route_names);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->parks_lock);
	pthread_cond_destroy(&srv->tick_cond);
	pthread_mutex_destroy(&srv->tick_lock);
	free(srv);
}
