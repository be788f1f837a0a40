"""Dashboard sessions over real HTTP: POST/GET/DELETE /api/v1/session, the
cookie as an alternative to the bearer token, CSRF on state-changing
requests, expiry (set in kiln.db by hand: the TTL is 12 hours), revocation,
and the static files' headers.  Run with Debian's /usr/bin/python3.
"""
import json
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))

import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402

R = F.Report("test_session_http")


def sign_in(k, token):
    st, hdrs, body = k.request("POST", "/api/v1/session", json.dumps({"token": token}).encode(),
                               "application/json", token=None)
    return st, hdrs, json.loads(body)


def cookie_of(hdrs):
    c = hdrs.get("Set-Cookie", "")
    return c.split(";", 1)[0]


def main():
    k = Kilnd()
    try:
        st, hdrs, who = sign_in(k, k.token)
        cookie = cookie_of(hdrs)
        csrf = who.get("csrf")

        def sign_in_gives_a_strict_httponly_cookie_and_csrf():
            assert st == 201, (st, who)
            sc = hdrs["Set-Cookie"]
            for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
                assert attr in sc, sc
            assert cookie.startswith("kiln_session=") and len(cookie) == 13 + 64, cookie
            assert len(csrf) == 64 and who["role"] == "admin", who
            # Only the hash is stored.
            db = sqlite3.connect(os.path.join(k.data, "kiln.db"))
            rows = db.execute("SELECT hash FROM sessions").fetchall()
            db.close()
            assert rows and all(r[0] != cookie.split("=")[1] for r in rows), rows

        def a_wrong_token_is_401_naming_the_field():
            s2, _, body = sign_in(k, "kiln_" + "0" * 64)
            assert s2 == 401 and body["error"]["field"] == "token", (s2, body)

        def the_cookie_reads_without_csrf():
            s2, _, body = k.request("GET", "/api/v1/models", token=None, headers={"Cookie": cookie})
            assert s2 == 200, (s2, body)
            s2, _, body = k.request("GET", "/api/v1/session", token=None, headers={"Cookie": cookie})
            body = json.loads(body)
            assert s2 == 200 and body["signed_in"] and body["csrf"] == csrf, body

        def a_write_with_the_cookie_needs_the_csrf_header():
            s2, _, body = k.request("DELETE", "/api/v1/models/999", token=None,
                                    headers={"Cookie": cookie})
            assert s2 == 403 and json.loads(body)["error"]["code"] == "csrf_failed", (s2, body)
            s2, _, body = k.request("DELETE", "/api/v1/models/999", token=None,
                                    headers={"Cookie": cookie, "X-CSRF-Token": "0" * 64})
            assert s2 == 403, (s2, body)
            s2, _, body = k.request("DELETE", "/api/v1/models/999", token=None,
                                    headers={"Cookie": cookie, "X-CSRF-Token": csrf})
            assert s2 == 404, (s2, body)  # past auth: the model just is not there

        def the_bearer_token_still_needs_no_csrf():
            s2, _, body = k.request("DELETE", "/api/v1/models/999")
            assert s2 == 404, (s2, body)

        def an_expired_session_is_401_and_says_so():
            s3, h3, _ = sign_in(k, k.token)
            c3 = cookie_of(h3)
            db = sqlite3.connect(os.path.join(k.data, "kiln.db"))
            db.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'"
                       " WHERE id = (SELECT max(id) FROM sessions)")
            db.commit()
            db.close()
            s2, hd, body = k.request("GET", "/api/v1/models", token=None, headers={"Cookie": c3})
            err = json.loads(body)["error"]
            assert s2 == 401 and err["code"] == "session_expired", (s2, body)
            assert "sign in again" in err["message"], err
            assert "WWW-Authenticate" in hd, hd
            s2, _, body = k.request("GET", "/api/v1/session", token=None, headers={"Cookie": c3})
            body = json.loads(body)
            assert s2 == 200 and body["signed_in"] is False and "ended" in body["message"], body

        def revoking_the_token_ends_its_sessions():
            s2, tok = k.json("POST", "/api/v1/tokens", {"name": "ana", "role": "user"})
            assert s2 == 201, tok
            _, h2, _ = sign_in(k, tok["token"])
            c2 = cookie_of(h2)
            assert k.request("GET", "/api/v1/models", token=None, headers={"Cookie": c2})[0] == 200
            assert k.request("DELETE", f"/api/v1/tokens/{tok['id']}")[0] == 204
            s2, _, _ = k.request("GET", "/api/v1/models", token=None, headers={"Cookie": c2})
            assert s2 == 401, s2

        def a_user_session_cannot_reach_admin_routes():
            s2, tok = k.json("POST", "/api/v1/tokens", {"name": "bo", "role": "user"})
            _, h2, _ = sign_in(k, tok["token"])
            s2, _, _ = k.request("GET", "/api/v1/tokens", token=None, headers={"Cookie": cookie_of(h2)})
            assert s2 == 403, s2

        def sign_out_forgets_the_session():
            s2, hd, _ = k.request("DELETE", "/api/v1/session", token=None,
                                  headers={"Cookie": cookie, "X-CSRF-Token": csrf})
            assert s2 == 204 and "Max-Age=0" in hd.get("Set-Cookie", ""), (s2, hd)
            s2, _, _ = k.request("GET", "/api/v1/models", token=None, headers={"Cookie": cookie})
            assert s2 == 401, s2

        def a_garbage_cookie_is_401_not_a_crash():
            for v in ("x", "../../etc", "A" * 64, "0" * 300):
                s2, _, _ = k.request("GET", "/api/v1/models", token=None,
                                     headers={"Cookie": "kiln_session=" + v})
                assert s2 == 401, (v, s2)

        def static_files_have_type_etag_and_304():
            s2, hd, body = k.request("GET", "/", token=None)
            assert s2 == 200 and hd["Content-Type"].startswith("text/html"), hd
            assert "Content-Security-Policy" in hd and hd["Cache-Control"] == "no-cache", hd
            s2, hd, _ = k.request("GET", "/ui/app.js", token=None)
            assert s2 == 200 and hd["Content-Type"].startswith("text/javascript"), hd
            s2, _, _ = k.request("GET", "/ui/app.js", token=None, headers={"If-None-Match": hd["ETag"]})
            assert s2 == 304, s2
            assert k.request("GET", "/ui/pages/graph.js", token=None)[0] == 200
            assert k.request("GET", "/ui/app.css", token=None)[1]["Content-Type"].startswith("text/css")
            for bad in ("/ui/nope.js", "/ui/..%2fMakefile", "/ui/pages/../app.js", "/ui/a/b/c.js"):
                assert k.request("GET", bad, token=None)[0] == 404, bad

        for fn in (sign_in_gives_a_strict_httponly_cookie_and_csrf,
                   a_wrong_token_is_401_naming_the_field, the_cookie_reads_without_csrf,
                   a_write_with_the_cookie_needs_the_csrf_header,
                   the_bearer_token_still_needs_no_csrf, an_expired_session_is_401_and_says_so,
                   revoking_the_token_ends_its_sessions, a_user_session_cannot_reach_admin_routes,
                   sign_out_forgets_the_session, a_garbage_cookie_is_401_not_a_crash,
                   static_files_have_type_etag_and_304):
            R.check(fn.__name__, fn)
    finally:
        rc = k.stop()
        if rc != 0:
            R.fail("kilnd_exits_cleanly", f"exit {rc}")
    R.done()


if __name__ == "__main__":
    main()
