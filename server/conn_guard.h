/*
 * conn_guard: bounds how long a connection may take to send a request's
 * line and headers, and makes room for a fresh client when the connection
 * limit is near (issue 14 item 5, slowloris).
 *
 * libmicrohttpd's connection_timeout counts idle time only: one header line
 * every few seconds keeps a connection forever, and a few thousand such
 * connections fill connection_limit so nobody else gets in.  conn_guard
 * keeps the connections that are waiting for headers (new ones, and
 * keep-alive ones between requests) in one list, oldest first; the
 * ticker's conn_guard_reap() ends those waiting past header_timeout, and
 * conn_guard_open() ends the oldest waiting one when the count reaches
 * evict_at, so a client that sends its headers at once is still served.
 *
 * It ends a connection with shutdown(2) on its socket only: libmicrohttpd
 * owns and closes the fd, sees the end of stream and cleans up as for any
 * client that went away.  conn_guard_close() must run before that close
 * (MHD's NOTIFY_CONNECTION CLOSED does), so a reused fd number is never
 * touched.  Every function may be called from any thread.
 */
#ifndef KILN_CONN_GUARD_H
#define KILN_CONN_GUARD_H

#include <stddef.h>

struct conn_guard;
struct conn_guard_conn;

/* header_timeout_s: seconds from connecting (or from the end of the
 * previous request) to the end of a request's headers; evict_at: at this
 * many connections, opening one more ends the oldest waiting one.  NULL on
 * out of memory; free with conn_guard_free() (accepts NULL). */
struct conn_guard *conn_guard_new(int header_timeout_s, long evict_at);
/* Only once every connection has been closed (after MHD_stop_daemon). */
void conn_guard_free(struct conn_guard *g);

/* A new connection on socket fd, waiting for headers.  Returns its handle
 * (NULL on out of memory: the connection is then not guarded); *evicted is
 * 1 when another connection was ended to make room. */
struct conn_guard_conn *conn_guard_open(struct conn_guard *g, int fd, int *evicted);
/* Its request's headers arrived: no deadline while the request runs. */
void conn_guard_busy(struct conn_guard *g, struct conn_guard_conn *c);
/* Its request is done; waiting for the next one's headers.  */
void conn_guard_idle(struct conn_guard *g, struct conn_guard_conn *c);
/* The connection is gone (before its fd is closed); frees c.  Accepts NULL. */
void conn_guard_close(struct conn_guard *g, struct conn_guard_conn *c);
/* Ends the connections waiting for headers longer than header_timeout;
 * returns how many. */
size_t conn_guard_reap(struct conn_guard *g);

#endif
