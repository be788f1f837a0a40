/*
 * answers: GET answers kept per thread while the rows they were read from
 * are unchanged (issue 19).
 *
 * A profile of GET /api/v1/tokens at 64 connections put a fifth of kilnd's
 * CPU in the route's one sqlite read: taking and dropping the read
 * transaction's locks (the WAL index's process-wide mutex, an fcntl on the
 * database file) costs more than the query on kiln.db's small tables, and
 * those locks are what the HTTP threads queued on.  The same route answering
 * from memory ran at kilnd's own /healthz rate.  So a route whose answer is
 * made only of database rows (struct http_route's ANSWER_FROM_DB) keeps its
 * 200 answers here, keyed by route, path and query, and caller; the answer
 * is served again while db_stamp_current() says no commit changed a table
 * it read, and for at most ANSWERS_MAX_AGE_MS, which bounds what a stamp
 * cannot see: writes to kiln.db by another process, and any field a store
 * may one day compute from the clock.
 *
 * A route marked ANSWER_ETAG_FROM_DB (a file whose ETag is a row's, like a
 * bundle's archive) keeps its 304 the same way: a revalidation then costs
 * what /healthz costs instead of a sqlite read (bench_bundles.sh's 304
 * row).  The kept answer is a status 304 with no body and its headers
 * (ETag); the HTTP layer serves it only to a request whose If-None-Match
 * names that ETag, and a request that does not goes to the handler.
 *
 * Per thread, so a lookup takes no lock; each of the HTTP threads fills its
 * own.  A thread holds at most ANSWERS_SLOTS answers of up to
 * ANSWERS_MAX_BODY bytes each.
 */
#ifndef KILN_ANSWERS_H
#define KILN_ANSWERS_H

#include <stddef.h>

#include "runtime/db.h"

#define ANSWERS_SLOTS 16
#define ANSWERS_MAX_BODY (64 * 1024)
#define ANSWERS_MAX_AGE_MS 1000
#define ANSWERS_MAX_HEADERS 4

/* Who asked what: two requests with equal keys get the same answer. */
struct answers_key {
	int route;               /* index in the route table */
	long long token_id;      /* the caller's token; 0 anonymous */
	int role;
	const char *path;        /* decoded path */
	const char *query;       /* raw query string without '?', "" for none */
};

struct answer {
	unsigned status;           /* 0: nothing (being) kept */
	const char *content_type;  /* a literal; NULL with no body */
	char *body;                /* NULL for a 304 */
	size_t len;
	int n_headers;
	char *headers[ANSWERS_MAX_HEADERS][2];  /* name, value */
};

/* The calling thread's kept answer for k that is still current in db at
 * now_ms (monotonic), or NULL.  Valid until the thread's next answers call.
 * Not counted as reused: the caller calls answers_served() if it replies
 * with it (a kept 304 may not fit the request's If-None-Match). */
const struct answer *answers_find(struct db *db, const struct answers_key *k, long long now_ms);

/* Keeps *a (taking its body and headers, which must be malloc'd; *a is
 * emptied) as the answer to k, read under stamp s at now_ms.  An answer
 * that cannot be kept (too big, out of memory) is freed. */
void answers_keep(struct db *db, const struct answers_key *k, const struct db_stamp *s,
		  long long now_ms, struct answer *a);

/* Frees what *a holds and empties it.  Accepts an empty answer. */
void answers_clear(struct answer *a);

/* Counts one answer replied from answers_find(). */
void answers_served(void);

/* Answers served from this process's caches so far (every thread). */
unsigned long answers_reused(void);

#endif
