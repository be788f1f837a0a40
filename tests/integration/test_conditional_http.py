"""Conditional and partial replies are one rule for every file-like route
(server/http.c http_reply_file): a weak or strong If-None-Match naming the
ETag is a 304, a single Range a 206 (416 past the end), If-Range with
another validator the whole file.  Bundles always did this; a model's file
answered 200 to a weak tag and ignored Range, and so did the graph file."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402

R = F.Report("test_conditional_http")


def check_file_route(k, path, whole):
    st, h, body = k.request("GET", path)
    assert st == 200 and body == whole, (st, len(body))
    etag = h["ETag"]
    assert h.get("Accept-Ranges") == "bytes", h
    for inm in (etag, "W/" + etag, f'"other", {etag}', "*"):
        st, h2, body = k.request("GET", path, headers={"If-None-Match": inm})
        assert st == 304 and body == b"" and h2["ETag"] == etag, (inm, st)
    st, h2, body = k.request("GET", path, headers={"If-None-Match": '"something-else"'})
    assert st == 200 and body == whole, st
    st, h2, body = k.request("GET", path, headers={"Range": "bytes=1-10"})
    assert st == 206 and body == whole[1:11], (st, len(body))
    assert h2["Content-Range"] == f"bytes 1-10/{len(whole)}", h2
    st, h2, body = k.request("GET", path, headers={"Range": "bytes=-5"})
    assert st == 206 and body == whole[-5:], st
    st, h2, body = k.request("GET", path, headers={"Range": f"bytes={len(whole)}-"})
    assert st == 416 and h2["Content-Range"] == f"bytes */{len(whole)}", (st, h2)
    st, h2, body = k.request("GET", path, headers={"Range": "bytes=0-3", "If-Range": '"old"'})
    assert st == 200 and body == whole, st
    st, h2, body = k.request("GET", path, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert st == 206 and body == whole[:4], st


def main():
    k = Kilnd()
    try:
        d = tempfile.mkdtemp(prefix="kiln-cond-")
        path = F.save(F.yolov8(), os.path.join(d, "y.onnx"))
        data = open(path, "rb").read()
        st, _, body = k.request("POST", "/api/v1/models?name=y", data, "application/octet-stream")
        assert st == 201, (st, body[:200])
        import json
        mid = json.loads(body)["id"]
        R.check("a_model_file_is_conditional_and_ranged",
                lambda: check_file_route(k, f"/api/v1/models/{mid}/file", data))

        def graph():
            st, _, g = k.request("GET", f"/api/v1/models/{mid}/graph")
            assert st == 200, st
            check_file_route(k, f"/api/v1/models/{mid}/graph", g)
        R.check("a_graph_file_is_conditional_and_ranged", graph)
    finally:
        rc = k.stop()
    R.check("kilnd_stops_cleanly", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError(f"kilnd exit {rc}")))
    R.done()


if __name__ == "__main__":
    main()
