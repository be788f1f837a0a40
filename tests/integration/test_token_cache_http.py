"""The cache of verified tokens and sessions (runtime/tokens.c) never lets a
revoked credential through: kilnd remembers a verified token per HTTP
thread, so each check here first warms that cache on many kept-alive
connections (a connection stays on one pool thread), then revokes, then
asks again on every one of them.  Real HTTP on loopback; run with Debian's
/usr/bin/python3.
"""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
sys.path.insert(0, os.path.join(HERE, "..", "deploy"))

import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd, get as kiln_get  # noqa: E402
from board_lib import add_bundle, make_bundle_dir  # noqa: E402

R = F.Report("test_token_cache_http")
CONNS = 16  # over the 4 pool threads set below: every thread sees the token


def connections(k):
    return k.connections(CONNS)


def get(conn, path, headers):
    st, _, body = kiln_get(conn, path, headers)
    return st, body


def warm(conns, path, headers):
    """Two requests per connection: the first fills its thread's cache, the
    second is answered from it."""
    for c in conns:
        for _ in range(2):
            st, body = get(c, path, headers)
            assert st == 200, (st, body)


def main():
    k = Kilnd("[server]\nthreads = 4\n")
    admin = {"Authorization": "Bearer " + k.token}
    try:
        def a_revoked_token_is_refused_on_every_connection_that_had_it_cached():
            st, tok = k.json("POST", "/api/v1/tokens", {"name": "cached", "role": "user"})
            assert st == 201, tok
            bearer = {"Authorization": "Bearer " + tok["token"]}
            conns = connections(k)
            warm(conns, "/api/v1/models", bearer)
            warm(conns, "/api/v1/tokens", admin)
            st, _, body = k.request("DELETE", f"/api/v1/tokens/{tok['id']}")
            assert st == 204, (st, body)
            for c in conns:
                st, body = get(c, "/api/v1/models", bearer)
                assert st == 401 and b"revoked" in body, (st, body)
                # Other tokens are unaffected (their entries are checked again).
                st, body = get(c, "/api/v1/tokens", admin)
                assert st == 200, (st, body)
            for c in conns:
                c.close()

        def a_signed_out_session_is_refused_on_every_connection():
            st, hdrs, body = k.request("POST", "/api/v1/session",
                                       json.dumps({"token": k.token}).encode(),
                                       "application/json", token=None)
            assert st == 201, (st, body)
            cookie = {"Cookie": hdrs["Set-Cookie"].split(";", 1)[0]}
            csrf = json.loads(body)["csrf"]
            conns = connections(k)
            warm(conns, "/api/v1/models", cookie)
            st, _, body = k.request("DELETE", "/api/v1/session", token=None,
                                    headers=dict(cookie, **{"X-CSRF-Token": csrf}))
            assert st == 204, (st, body)
            for c in conns:
                st, body = get(c, "/api/v1/models", cookie)
                assert st == 401 and b"session_expired" in body, (st, body)
                c.close()

        def revoking_a_token_ends_its_cached_sessions():
            st, tok = k.json("POST", "/api/v1/tokens", {"name": "browser", "role": "user"})
            assert st == 201, tok
            st, hdrs, body = k.request("POST", "/api/v1/session",
                                       json.dumps({"token": tok["token"]}).encode(),
                                       "application/json", token=None)
            assert st == 201, (st, body)
            cookie = {"Cookie": hdrs["Set-Cookie"].split(";", 1)[0]}
            conns = connections(k)
            warm(conns, "/api/v1/models", cookie)
            st, _, body = k.request("DELETE", f"/api/v1/tokens/{tok['id']}")
            assert st == 204, (st, body)
            for c in conns:
                st, body = get(c, "/api/v1/models", cookie)
                assert st == 401, (st, body)
                c.close()

        def a_deleted_devices_token_stops_pulling_on_every_connection():
            st, dev = k.json("POST", "/api/v1/devices",
                             {"name": "cam-cache", "target": "maixcam", "transport": "pull"})
            assert st == 201, dev
            bearer = {"Authorization": "Bearer " + dev["token"]}
            conns = connections(k)
            for c in conns:
                for _ in range(2):
                    st, body = get(c, "/api/v1/pull", bearer)
                    assert st == 204, (st, body)  # nothing assigned yet
            st, _, body = k.request("DELETE", f"/api/v1/devices/{dev['id']}")
            assert st == 204, (st, body)
            for c in conns:
                st, body = get(c, "/api/v1/pull", bearer)
                assert st == 401, (st, body)
                c.close()

        def an_assignment_is_seen_on_the_next_poll_on_every_connection():
            # kilnd keeps each device's poll answer per thread (deploy/
            # devices.c) until a commit changes devices, assignments or
            # bundles; the bundles are made before the device polls, by the
            # test tool outside kilnd.
            work = tempfile.mkdtemp(prefix="kiln-pollcache-")
            b1 = add_bundle(k, make_bundle_dir(work, "det", payload=2000, seed=1), "det", "maixcam")
            b2 = add_bundle(k, make_bundle_dir(work, "seg", payload=2000, seed=2), "seg", "maixcam")
            st, dev = k.json("POST", "/api/v1/devices",
                             {"name": "cam-poll", "target": "maixcam", "transport": "pull"})
            assert st == 201, dev
            bearer = {"Authorization": "Bearer " + dev["token"]}
            conns = connections(k)

            def poll_all(want_status, want_bundle=None, etag=None):
                h = dict(bearer, **({"If-None-Match": '"%s"' % etag} if etag else {}))
                for c in conns:
                    for _ in range(2):  # the second is answered from the cache
                        c.request("GET", "/api/v1/pull", headers=h)
                        r = c.getresponse()
                        r.read()
                        assert r.status == want_status, (r.status, want_status)
                        if want_bundle is not None:
                            assert r.getheader("X-Kiln-Bundle") == str(want_bundle["id"]), \
                                (r.getheader("X-Kiln-Bundle"), want_bundle["id"])

            poll_all(204)  # nothing assigned yet
            assign = f"/api/v1/devices/{dev['id']}/assignment"
            st, o = k.json("PUT", assign, {"model_name": "det"})
            assert st == 200, o
            poll_all(200, b1)
            poll_all(304, etag=b1["sha256"])
            st, o = k.json("PUT", assign, {"bundle": b2["id"]})
            assert st == 200, o
            poll_all(200, b2, etag=b1["sha256"])  # the old validator no longer matches
            poll_all(304, etag=b2["sha256"])
            # The poll marked the device seen (last_seen is written from the
            # read the cache is filled by).
            st, o = k.json("GET", f"/api/v1/devices/{dev['id']}")
            assert st == 200 and o["last_seen"], o
            st, _, body = k.request("DELETE", f"/api/v1/devices/{dev['id']}")
            assert st == 204, (st, body)
            poll_all(401)
            for c in conns:
                c.close()

        for fn in (a_revoked_token_is_refused_on_every_connection_that_had_it_cached,
                   a_signed_out_session_is_refused_on_every_connection,
                   revoking_a_token_ends_its_cached_sessions,
                   a_deleted_devices_token_stops_pulling_on_every_connection,
                   an_assignment_is_seen_on_the_next_poll_on_every_connection):
            R.check(fn.__name__, fn)
    finally:
        k.stop_reported(R)
    R.done()


if __name__ == "__main__":
    main()
