"""kilnd serves a repeated GET of a route marked ANSWER_FROM_DB from a per-
thread memory of its answer (server/answers.h) until a commit changes a
table the answer was read from.  Each check here first fills that memory on
many kept-alive connections (a connection stays on one pool thread, and
every thread gets some), then changes the rows through another connection,
then asks again on every one: the change must show on the very next answer.
It also checks that the memory never crosses callers or URLs, that a role
check still runs before it, and (with /metrics) that it is used at all.
Real HTTP on loopback; run with Debian's /usr/bin/python3.
"""
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
sys.path.insert(0, os.path.join(HERE, "..", "deploy"))

import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd, get  # noqa: E402
from board_lib import add_bundle, make_bundle_dir  # noqa: E402

R = F.Report("test_answers_http")
CONNS = 16  # over the 4 pool threads set below


def connections(k):
    return k.connections(CONNS)


def get_json(conn, path, headers):
    st, _, body = get(conn, path, headers)
    assert st == 200, (path, st, body)
    return json.loads(body)


def warm(conns, path, headers):
    """Two requests per connection: the first is read from the database and
    kept, the second is served from memory.  Returns the first answer."""
    first = None
    for c in conns:
        for _ in range(2):
            o = get_json(c, path, headers)
            first = first or o
    return first


def reused(k):
    st, _, body = k.request("GET", "/metrics")
    assert st == 200, st
    for line in body.decode().splitlines():
        if line.startswith("kiln_http_answers_reused_total "):
            return int(line.split()[1])
    raise AssertionError("no kiln_http_answers_reused_total in /metrics")


def main():
    k = Kilnd("[server]\nthreads = 4\n")
    admin = {"Authorization": "Bearer " + k.token}
    try:
        def repeated_gets_are_served_from_memory():
            conns = connections(k)
            before = reused(k)
            warm(conns, "/api/v1/tokens", admin)
            # at least the second request on each connection
            assert reused(k) - before >= CONNS, (before, reused(k))
            for c in conns:
                c.close()

        def a_new_token_is_listed_on_every_connection_at_once():
            conns = connections(k)
            names = [t["name"] for t in warm(conns, "/api/v1/tokens", admin)["items"]]
            assert "fresh" not in names, names
            st, tok = k.json("POST", "/api/v1/tokens", {"name": "fresh", "role": "user"})
            assert st == 201, tok
            for c in conns:
                o = get_json(c, "/api/v1/tokens", admin)
                assert "fresh" in [t["name"] for t in o["items"]], o
                o = get_json(c, f"/api/v1/tokens/{tok['id']}", admin)
                assert o["name"] == "fresh", o
            # used once: its last_used is written, and every list shows it
            st, _ = k.json("GET", "/api/v1/models", token=tok["token"])
            assert st == 200, st
            for c in conns:
                o = get_json(c, f"/api/v1/tokens/{tok['id']}", admin)
                assert o["last_used"], o
            st, _, body = k.request("DELETE", f"/api/v1/tokens/{tok['id']}")
            assert st == 204, (st, body)
            for c in conns:
                st, _, body = get(c, f"/api/v1/tokens/{tok['id']}", admin)
                assert st == 404, (st, body)
                c.close()

        def a_device_made_or_deleted_shows_on_every_connection():
            conns = connections(k)
            assert warm(conns, "/api/v1/devices", admin)["items"] == []
            st, dev = k.json("POST", "/api/v1/devices",
                             {"name": "cam-answers", "target": "maixcam", "transport": "pull"})
            assert st == 201, dev
            for c in conns:
                o = get_json(c, "/api/v1/devices", admin)
                assert [d["name"] for d in o["items"]] == ["cam-answers"], o
            warm(conns, f"/api/v1/devices/{dev['id']}", admin)
            st, _, body = k.request("DELETE", f"/api/v1/devices/{dev['id']}")
            assert st == 204, (st, body)
            for c in conns:
                assert get_json(c, "/api/v1/devices", admin)["items"] == []
                st, _, body = get(c, f"/api/v1/devices/{dev['id']}", admin)
                assert st == 404, (st, body)
                c.close()

        def answers_are_kept_per_url_and_query():
            for name in ("page-a", "page-b"):
                st, o = k.json("POST", "/api/v1/tokens", {"name": name, "role": "user"})
                assert st == 201, o
            conns = connections(k)
            whole = warm(conns, "/api/v1/tokens", admin)
            page = warm(conns, "/api/v1/tokens?limit=1", admin)
            assert len(whole["items"]) >= 3 and len(page["items"]) == 1, (whole, page)
            assert page["next"] is not None and whole["next"] is None, (whole, page)
            after = warm(conns, f"/api/v1/tokens?limit=1&after={page['next']}", admin)
            assert after["items"][0]["id"] != page["items"][0]["id"], (page, after)
            for c in conns:
                assert get_json(c, "/api/v1/tokens", admin) == whole
                assert get_json(c, "/api/v1/tokens?limit=1", admin) == page
                c.close()

        def a_kept_answer_never_skips_the_role_check_or_crosses_callers():
            st, user = k.json("POST", "/api/v1/tokens", {"name": "plain", "role": "user"})
            assert st == 201, user
            ub = {"Authorization": "Bearer " + user["token"]}
            conns = connections(k)
            warm(conns, "/api/v1/tokens", admin)
            for c in conns:
                st, _, body = get(c, "/api/v1/tokens", ub)  # admin only
                assert st == 403, (st, body)
                st, _, body = get(c, "/api/v1/tokens", {})
                assert st == 401, (st, body)
            # the user's own answer is its own, and ends with its token
            warm(conns, "/api/v1/devices", ub)
            st, _, body = k.request("DELETE", f"/api/v1/tokens/{user['id']}")
            assert st == 204, (st, body)
            for c in conns:
                st, _, body = get(c, "/api/v1/devices", ub)
                assert st == 401 and b"revoked" in body, (st, body)
                c.close()

        def headers_of_a_kept_answer_are_kept_too():
            # GET /api/v1/jobs/{id} says Location; a 404 is never kept.
            conns = connections(k)
            for c in conns:
                for _ in range(2):
                    st, _, body = get(c, "/api/v1/jobs/999999", admin)
                    assert st == 404, (st, body)
            c = conns[0]
            st, hdrs, body = get(c, "/api/v1/devices", admin)
            first = (st, hdrs.get("Content-Type"), body)
            st, hdrs, body = get(c, "/api/v1/devices", admin)
            assert (st, hdrs.get("Content-Type"), body) == first, (first, st, hdrs, body)
            assert hdrs.get("X-Content-Type-Options") == "nosniff", hdrs
            for c in conns:
                c.close()

        def a_write_by_another_process_shows_within_the_age_bound():
            # bundle_add writes kiln.db from outside kilnd, which no commit
            # count of kilnd's sees; ANSWERS_MAX_AGE_MS (1 s) bounds it.
            conns = connections(k)
            n = len(warm(conns, "/api/v1/bundles", admin)["items"])
            work = tempfile.mkdtemp(prefix="kiln-answers-")
            add_bundle(k, make_bundle_dir(work, "det", payload=2000, seed=3), "det", "maixcam")
            deadline = time.monotonic() + 10
            for c in conns:
                while True:
                    got = len(get_json(c, "/api/v1/bundles", admin)["items"])
                    if got == n + 1:
                        break
                    assert time.monotonic() < deadline, "bundle never listed"
            for c in conns:
                c.close()

        for fn in (repeated_gets_are_served_from_memory,
                   a_new_token_is_listed_on_every_connection_at_once,
                   a_device_made_or_deleted_shows_on_every_connection,
                   answers_are_kept_per_url_and_query,
                   a_kept_answer_never_skips_the_role_check_or_crosses_callers,
                   headers_of_a_kept_answer_are_kept_too,
                   a_write_by_another_process_shows_within_the_age_bound):
            R.check(fn.__name__, fn)
    finally:
        k.stop_reported(R)
    R.done()


if __name__ == "__main__":
    main()
