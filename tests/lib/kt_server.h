/*
 * kt_server: integration-test helpers — start a real kilnd on an ephemeral
 * port with a fresh data dir, talk to it over real HTTP (libcurl) or a raw
 * socket, and stop it.  Readiness comes from kilnd's --ready-fd pipe, never
 * from sleeping.
 */
#ifndef KT_SERVER_H
#define KT_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct kt_server {
	pid_t pid;
	char addr[64];          /* "127.0.0.1:PORT" */
	char data_dir[512];
	char config[600];       /* kiln.ini written for this server, or "" */
	char log[600];          /* kilnd's stderr */
	char token[128];        /* the admin token from admin.token */
};

/* Starts kilnd ($KILND, default build/kilnd).  ini is written to a kiln.ini
 * passed with --config (NULL for none); data_dir NULL makes a fresh one.
 * Returns 0, or -1 with the reason printed (and kilnd's log). */
int kt_server_start(struct kt_server *s, const char *ini, const char *data_dir);
/* SIGTERM and wait; returns kilnd's exit status (or 128+signal). */
int kt_server_stop(struct kt_server *s);
/* SIGKILL and wait. */
void kt_server_kill(struct kt_server *s);

struct kt_resp {
	long status;
	char *body;             /* NUL-terminated */
	size_t len;
	char *headers;          /* raw header block, NUL-terminated */
};

/* One request; token NULL for none, body NULL for none.  Returns 0 when an
 * HTTP response arrived (any status), -1 on a transport error. */
int kt_http(struct kt_server *s, const char *method, const char *path, const char *token,
	    const char *content_type, const void *body, size_t len, struct kt_resp *r);
/* The value of a response header (case-insensitive name), copied into buf. */
const char *kt_resp_header(const struct kt_resp *r, const char *name, char *buf, size_t cap);
void kt_resp_free(struct kt_resp *r);

/* Sends raw bytes on a new connection and reads the reply until the server
 * closes or cap-1 bytes; returns bytes read or -1. */
long kt_raw(struct kt_server *s, const void *req, size_t len, char *out, size_t cap);

#endif
