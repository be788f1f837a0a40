"""The admin pages' API over real HTTP: GET /api/v1/settings (read-only,
admin only) and the token fields the tokens page shows (last_used moves
when a token is used; a revoked token is refused at once).

Refusals: no token 401 with WWW-Authenticate, a user token 403, a write
method 405 with Allow, a query past the limit 400.  Run with Debian's
/usr/bin/python3 (tests/run.sh does).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402

R = F.Report("test_admin_http")


def main():
    k = Kilnd("[server]\naccess_log = off\nwork_threads = 3\n\n[jobs]\nworkers = 2\n\n"
              "[toolchain.pulsar2]\nengine = local\npath = /nonexistent\n")
    try:
        st, user = k.json("POST", "/api/v1/tokens", {"name": "person", "role": "user"})
        assert st == 201, (st, user)

        def settings_are_the_values_in_force():
            st, h, body = k.request("GET", "/api/v1/settings")
            assert st == 200, (st, body[:200])
            assert h.get("Cache-Control") == "no-store", h
            items = json.loads(body)["items"]
            got = {(i["section"], i["key"]): i for i in items}
            assert got[("server", "work_threads")]["value"] == 3, got[("server", "work_threads")]
            assert got[("server", "work_threads")]["default"] == "2"
            assert got[("jobs", "workers")]["value"] == 2
            assert got[("server", "listen")]["value"].startswith("127.0.0.1:"), got[("server", "listen")]
            assert got[("limits", "model_bytes")]["value"] == 4 << 30  # "4G" in bytes
            assert got[("toolchain.pulsar2", "engine")]["value"] == "local"
            assert got[("toolchain.pulsar2", "path")]["value"] == "/nonexistent"
            assert got[("toolchain.pulsar2", "engine")]["choices"] == "docker|podman|local|slurm"
            assert ("toolchain.voyager", "engine") in got
            # a toolchain's image defaults to its own image, not ""
            img = got[("toolchain.pulsar2", "image")]
            assert img["value"] == img["default"] and img["default"], img
            assert all(i["help"] for i in items), [i for i in items if not i["help"]]
            assert not any(i["section"] == "toolchain.*" for i in items)
        R.check("settings_are_the_values_in_force", settings_are_the_values_in_force)

        def settings_refusals():
            st, h, body = k.request("GET", "/api/v1/settings", token=None)
            assert st == 401 and h.get("WWW-Authenticate", "").startswith("Bearer"), (st, h)
            st, h, body = k.request("GET", "/api/v1/settings", token=user["token"])
            assert st == 403, (st, body)
            assert json.loads(body)["error"]["code"], body
            st, h, body = k.request("PUT", "/api/v1/settings", b"{}", "application/json")
            assert st == 405 and "GET" in h.get("Allow", ""), (st, h)
            q = "&".join(f"a{i}=1" for i in range(101))
            st, h, body = k.request("GET", "/api/v1/settings?" + q)
            assert st == 400, (st, body[:200])
        R.check("settings_refusals", settings_refusals)

        def tokens_show_last_used_and_revoke():
            st, user = k.json("POST", "/api/v1/tokens", {"name": "script", "role": "user"})
            assert st == 201, (st, user)
            st, lst = k.json("GET", "/api/v1/tokens?limit=50")
            row = next(t for t in lst["items"] if t["id"] == user["id"])
            assert row["last_used"] is None, row
            assert "token" not in row, row
            st, _, _ = k.request("GET", "/api/v1/models", token=user["token"])
            assert st == 200
            st, lst = k.json("GET", "/api/v1/tokens?limit=50")
            row = next(t for t in lst["items"] if t["id"] == user["id"])
            assert row["last_used"], row
            st, _, _ = k.request("DELETE", f"/api/v1/tokens/{user['id']}")
            assert st == 204
            st, _, _ = k.request("GET", "/api/v1/models", token=user["token"])
            assert st == 401
        R.check("tokens_show_last_used_and_revoke", tokens_show_last_used_and_revoke)
    finally:
        k.stop()
    R.done()


if __name__ == "__main__":
    main()
