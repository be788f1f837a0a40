"""GET /api/v1/bundles/{id}/archive with If-None-Match (a board or browser
revalidating its copy) is answered 304 from a per-thread memory of the
route's last 304 (server/answers.h, ANSWER_ETAG_FROM_DB) instead of a
sqlite read.  Each check fills that memory on many kept-alive connections
(a connection stays on one pool thread, and every thread gets some), then
asks again on every one: the memory must be used (/metrics' reuse count),
must answer only an If-None-Match that names the archive's ETag, must never
skip the token and role checks, and must not outlive the bundle's row.
Real HTTP on loopback; run with Debian's /usr/bin/python3.
"""
import hashlib
import os
import sqlite3
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

R = F.Report("test_archive_304_http")
CONNS = 16  # over the 4 pool threads set below
# server/answers.h's ANSWERS_MAX_AGE_MS: the bound on what a commit count
# cannot see (a write by another process), plus a margin for a slow machine.
MAX_AGE_S = 1.0 + 0.3


def reused(k):
    st, _, body = k.request("GET", "/metrics")
    assert st == 200, st
    for line in body.decode().splitlines():
        if line.startswith("kiln_http_answers_reused_total "):
            return int(line.split()[1])
    raise AssertionError("no kiln_http_answers_reused_total in /metrics")


def revalidate(conn, bid, etag, headers, times=2):
    """times conditional GETs on conn, each a 304 naming etag, no body."""
    for _ in range(times):
        st, hdrs, body = get(conn, f"/api/v1/bundles/{bid}/archive",
                             dict(headers, **{"If-None-Match": etag}))
        assert st == 304 and body == b"", (st, body[:200])
        assert hdrs.get("ETag") == etag, hdrs
        assert hdrs.get("X-Content-Type-Options") == "nosniff", hdrs


def after_the_304(conn, bid, etag, headers, deadline):
    """Asks on conn until the answer to If-None-Match etag is not a 304 (a
    kept one ages out in MAX_AGE_S on its thread; the deadline only stops a
    hang) and returns that answer."""
    while True:
        st, hdrs, body = get(conn, f"/api/v1/bundles/{bid}/archive",
                             dict(headers, **{"If-None-Match": etag}))
        if st != 304:
            return st, hdrs, body
        assert time.monotonic() < deadline, f"a 304 for {etag} outlived the age bound"


def delete_bundle(k, bid):
    """Deletes a bundle's row (and its files') from outside kilnd."""
    db = sqlite3.connect(os.path.join(k.data, "kiln.db"), timeout=30)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        with db:
            db.execute("DELETE FROM bundles WHERE id = ?", (bid,))
    finally:
        db.close()


def main():
    k = Kilnd("[server]\nthreads = 4\n")
    admin = {"Authorization": "Bearer " + k.token}
    work = tempfile.mkdtemp(prefix="kiln-archive304-")
    b1 = add_bundle(k, make_bundle_dir(work, "det", payload=3000, seed=1), "det", "maixcam")
    bid, sha = b1["id"], b1["sha256"]
    etag = f'"{sha}"'
    try:
        def repeated_revalidations_are_304s_served_from_memory():
            conns = k.connections(CONNS)
            before = reused(k)
            for c in conns:
                revalidate(c, bid, etag, admin, times=3)
            # the first on each connection's thread may read the row; the
            # others are served from memory
            assert reused(k) - before >= 2 * CONNS, (before, reused(k))
            for c in conns:
                c.close()

        def a_download_is_the_whole_archive_and_never_kept():
            conns = k.connections(CONNS)
            for c in conns:
                revalidate(c, bid, etag, admin)
            before = reused(k)
            for c in conns:
                st, hdrs, body = get(c, f"/api/v1/bundles/{bid}/archive", admin)
                assert st == 200 and hashlib.sha256(body).hexdigest() == sha, st
                assert hdrs.get("ETag") == etag and hdrs.get("Accept-Ranges") == "bytes", hdrs
                assert hdrs.get("Content-Disposition", "").endswith(f'-{bid}.tar.gz"'), hdrs
                assert hdrs.get("Content-Type") == "application/gzip", hdrs
            assert reused(k) == before, (before, reused(k))
            for c in conns:
                c.close()

        def another_etag_gets_the_archive_and_a_weak_or_listed_one_a_304():
            conns = k.connections(CONNS)
            for c in conns:
                revalidate(c, bid, etag, admin)
            for c in conns:
                for inm in ('"0000"', f'"{sha[:-1]}"', f'"{sha}0"', sha):
                    st, hdrs, body = get(c, f"/api/v1/bundles/{bid}/archive",
                                         dict(admin, **{"If-None-Match": inm}))
                    assert st == 200 and hashlib.sha256(body).hexdigest() == sha, (inm, st)
                for inm in (f'W/"{sha}"', f'"x", "{sha}"', "*"):
                    st, hdrs, body = get(c, f"/api/v1/bundles/{bid}/archive",
                                         dict(admin, **{"If-None-Match": inm}))
                    assert st == 304 and body == b"" and hdrs.get("ETag") == etag, (inm, st)
                # another bundle's id is not this one's answer
                st, _, body = get(c, "/api/v1/bundles/999999/archive",
                                  dict(admin, **{"If-None-Match": etag}))
                assert st == 404, (st, body)
                c.close()

        def a_revoked_token_is_refused_though_its_304_was_kept():
            st, user = k.json("POST", "/api/v1/tokens", {"name": "reval", "role": "user"})
            assert st == 201, user
            ub = {"Authorization": "Bearer " + user["token"]}
            conns = k.connections(CONNS)
            for c in conns:
                revalidate(c, bid, etag, ub)
                st, _, body = get(c, f"/api/v1/bundles/{bid}/archive", {"If-None-Match": etag})
                assert st == 401, (st, body)
            st, _, body = k.request("DELETE", f"/api/v1/tokens/{user['id']}")
            assert st == 204, (st, body)
            for c in conns:
                st, _, body = get(c, f"/api/v1/bundles/{bid}/archive",
                                  dict(ub, **{"If-None-Match": etag}))
                assert st == 401 and b"revoked" in body, (st, body)
            # and a device token never reaches a user route, kept or not
            st, dev = k.json("POST", "/api/v1/devices",
                             {"name": "cam-304", "target": "maixcam", "transport": "pull"})
            assert st == 201, dev
            db = {"Authorization": "Bearer " + dev["token"], "If-None-Match": etag}
            for c in conns:
                st, _, body = get(c, f"/api/v1/bundles/{bid}/archive", db)
                assert st == 403, (st, body)
                c.close()

        def a_replaced_or_deleted_bundle_is_seen_within_the_age_bound():
            # kilnd writes a bundle row once and never deletes it; an
            # operator's sqlite3 (another process) can.  Its commit is not
            # in kilnd's counts, so the kept 304 ends with ANSWERS_MAX_AGE_MS.
            b2 = add_bundle(k, make_bundle_dir(work, "old", payload=2000, seed=2),
                            "old", "maixcam")
            e2 = f'"{b2["sha256"]}"'
            conns = k.connections(CONNS)
            for c in conns:
                revalidate(c, b2["id"], e2, admin)
            delete_bundle(k, b2["id"])
            # The next bundle takes the deleted id (the highest rowid): the
            # old ETag must now get the new archive, not a 304.
            b3 = add_bundle(k, make_bundle_dir(work, "new", payload=2500, seed=3),
                            "new", "maixcam")
            assert b3["id"] == b2["id"] and b3["sha256"] != b2["sha256"], (b2, b3)
            e3 = f'"{b3["sha256"]}"'
            deadline = time.monotonic() + 10 * MAX_AGE_S
            for c in conns:
                st, hdrs, body = after_the_304(c, b3["id"], e2, admin, deadline)
                assert st == 200 and hashlib.sha256(body).hexdigest() == b3["sha256"], st
                assert hdrs.get("ETag") == e3, hdrs
                revalidate(c, b3["id"], e3, admin)
            delete_bundle(k, b3["id"])
            deadline = time.monotonic() + 10 * MAX_AGE_S
            for c in conns:
                st, _, body = after_the_304(c, b3["id"], e3, admin, deadline)
                assert st == 404, (st, body)
                c.close()

        for fn in (repeated_revalidations_are_304s_served_from_memory,
                   a_download_is_the_whole_archive_and_never_kept,
                   another_etag_gets_the_archive_and_a_weak_or_listed_one_a_304,
                   a_revoked_token_is_refused_though_its_304_was_kept,
                   a_replaced_or_deleted_bundle_is_seen_within_the_age_bound):
            R.check(fn.__name__, fn)
    finally:
        k.stop_reported(R)
    R.done()


if __name__ == "__main__":
    main()
