/*
 * routes_session: signing in to the dashboard.  POST /api/v1/session trades
 * a token for a session cookie and a CSRF token; GET tells the page who is
 * signed in (and the CSRF token again after a reload); DELETE signs out.
 * The cookie check itself runs in http.c's authenticate() through the
 * check_session hook; the SQL is in session.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/app.h"
#include "server/auth.h"
#include "server/routes.h"
#include "server/session.h"

/* Not Secure: kilnd speaks plain HTTP (loopback or a LAN, or behind a TLS
 * proxy which may add it); a Secure cookie would never come back. */
#define COOKIE_ATTRS "Path=/; HttpOnly; SameSite=Strict"

static cJSON *who_json(const struct http_principal *p, const char *csrf, const char *expires)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "role", auth_role_name(p->role));
	cJSON_AddNumberToObject(o, "token_id", (double)p->token_id);
	if (csrf)
		cJSON_AddStringToObject(o, "csrf", csrf);
	else
		cJSON_AddNullToObject(o, "csrf");
	if (expires)
		cJSON_AddStringToObject(o, "expires", expires);
	else
		cJSON_AddNullToObject(o, "expires");
	return o;
}

/* A browser sends Origin with every POST; a page of another site posting
 * here would carry its own.  Without Origin (curl, a script) there is no
 * page to forge the request.  Behind a proxy, Host must be passed on
 * (nginx: proxy_set_header Host $host, as README shows). */
static int same_origin(struct http_req *req)
{
	const char *origin = http_req_header(req, "Origin");
	if (origin == NULL)
		return 1;
	const char *host = http_req_header(req, "Host");
	const char *o = strncmp(origin, "http://", 7) == 0 ? origin + 7 :
			strncmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
	return o != NULL && host != NULL && strcasecmp(o, host) == 0;
}

void route_session_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	/* A form or a no-cors fetch from another site can post text/plain
	 * without a preflight; only JSON, which needs one, is taken. */
	const char *ct = http_req_header(req, "Content-Type");
	size_t ctl = strlen("application/json");
	if (ct == NULL || strncasecmp(ct, "application/json", ctl) != 0 ||
	    (ct[ctl] != '\0' && ct[ctl] != ';' && ct[ctl] != ' ')) {
		http_reply_error(req, 415, "unsupported_media_type", "Content-Type",
				 "signing in takes Content-Type: application/json, not '%.64s'",
				 ct ? ct : "(none)");
		return;
	}
	if (!same_origin(req)) {
		http_reply_error(req, 403, "cross_origin", "Origin",
				 "a sign-in from '%.100s' is refused: it must come from this "
				 "server's own page", http_req_header(req, "Origin"));
		return;
	}
	const cJSON *body = http_req_json(req);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(body, "token");
	if (!cJSON_IsObject(body) || !cJSON_IsString(tok) || tok->valuestring[0] == '\0') {
		http_reply_error(req, 400, "invalid", "token",
				 "token is required: paste a Kiln token (kiln_ followed by 64 "
				 "hex digits); the first admin token is in <data_dir>/admin.token");
		return;
	}
	struct http_principal p = {0};
	struct kiln_err err;
	kiln_err_clear(&err);
	int rc = auth_token_verify(app->db, tok->valuestring, &p, &err);
	if (rc == KILN_EAUTH) {
		http_reply_error(req, 401, "unauthorized", "token", "%s", err.msg);
		http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"kiln\"");
		return;
	}
	if (rc != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	if (p.role == ROLE_DEVICE) {
		http_reply_error(req, 403, "forbidden", "token",
				 "a device token cannot sign in to the dashboard; use a user or "
				 "admin token");
		return;
	}
	char sid[SESSION_ID_LEN + 1], csrf[SESSION_CSRF_LEN + 1], expires[32];
	if (session_create(app->db, p.token_id, sid, csrf, expires, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	char cookie[256];
	snprintf(cookie, sizeof(cookie), HTTP_SESSION_COOKIE "=%s; Max-Age=%d; " COOKIE_ATTRS,
		 sid, SESSION_TTL_S);
	http_reply_json(req, 201, who_json(&p, csrf, expires));
	http_reply_header(req, "Set-Cookie", cookie);
	http_reply_header(req, "Cache-Control", "no-store");
}

/* Anonymous on purpose: the page asks this first, and "not signed in" is an
 * answer (200, signed_in false, with why), not an error the browser would
 * log in its console. */
void route_session_get(struct http_req *req)
{
	struct app *app = http_req_app(req);
	struct http_principal p = {0};
	struct kiln_err err;
	kiln_err_clear(&err);
	const char *authz = http_req_header(req, "Authorization");
	const char *sid = authz ? NULL : http_req_cookie(req, HTTP_SESSION_COOKIE);
	char expires[32], csrf[SESSION_CSRF_LEN + 1];
	int rc;
	if (authz) {
		/* A bearer token: who it is, but no session to speak of. */
		const char *tok = strncasecmp(authz, "Bearer ", 7) == 0 ? authz + 7 : "";
		while (*tok == ' ')
			tok++;
		rc = auth_token_verify(app->db, tok, &p, &err);
	} else if (sid) {
		rc = session_check(app->db, sid, NULL, 0, &p, expires, &err);
	} else {
		rc = kiln_errf(&err, KILN_EAUTH, "", "not signed in");
	}
	if (rc != 0 && rc != KILN_EAUTH) {
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *o;
	if (rc == KILN_EAUTH) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "signed_in", 0);
		if (authz || sid) /* a cookie or token that no longer works: say why */
			cJSON_AddStringToObject(o, "message", err.msg);
		else
			cJSON_AddNullToObject(o, "message");
	} else {
		if (sid)
			session_csrf(sid, csrf);
		o = who_json(&p, sid ? csrf : NULL, sid ? expires : NULL);
		cJSON_AddBoolToObject(o, "signed_in", 1);
	}
	http_reply_json(req, 200, o);
	http_reply_header(req, "Cache-Control", "no-store");
}

void route_session_delete(struct http_req *req)
{
	struct app *app = http_req_app(req);
	const char *sid = http_req_header(req, "Authorization") ? NULL :
			  http_req_cookie(req, HTTP_SESSION_COOKIE);
	struct kiln_err err;
	kiln_err_clear(&err);
	if (sid && session_delete(app->db, sid, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	http_reply_empty(req, 204);
	http_reply_header(req, "Set-Cookie", HTTP_SESSION_COOKIE "=; Max-Age=0; " COOKIE_ATTRS);
}
