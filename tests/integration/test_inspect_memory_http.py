"""Inspection on upload of big models runs one at a time (issue 14), over
real sockets on loopback.

kilnd inspects every uploaded model on its work pool before storing it.
Parsing a 1M-node model costs ~165 MB (test_onnx_memory), so four work
threads each inspecting one at once cost four times that; the graph-file
writer had been one at a time already, and big inspections (and cuts and
rewrites) now take the same lock.  Four concurrent uploads of the 1M-node
chain (onnx_fixtures.big_chain, 173 MB) with work_threads = 4 must leave
kilnd's peak RSS (VmHWM in /proc/<pid>/status) under 320 MB, where one
parse plus the server is ~175 MB and four at once were 650 MB.  (Under
ASan, make check, RSS counts the sanitizer's quarantine: the uploads still
run, the bound is skipped.)  While they
run, GET /healthz is answered: the waits are on work threads, not HTTP
threads.  The figures are printed as INFO lines; nothing here is timed.
"""
import json
import os
import sys
import threading
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd, sanitized  # noqa: E402

R = F.Report("test_inspect_memory_http")
UPLOADS = 4
LIMIT_KB = 320 * 1024


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def upload(k, name, data):
    """(status, reply) of POST /api/v1/models; a generous timeout, because
    under the sanitizers the fourth waits for three parses before its own."""
    req = urllib.request.Request(f"{k.base}/api/v1/models?name={name}", data=data,
                                 method="POST")
    req.add_header("Authorization", "Bearer " + k.token)
    req.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=1200) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    k = Kilnd("[server]\nwork_threads = 4\n")
    S = {}
    try:
        data, last = F.big_chain(1_000_000)

        def concurrent_big_uploads():
            pid = k.proc.pid
            before = status_kb(pid, "VmHWM")
            results = {}

            def one(i):
                results[i] = upload(k, f"big{i}", data)
            ts = [threading.Thread(target=one, args=(i,)) for i in range(UPLOADS)]
            for t in ts:
                t.start()
            # HTTP threads stay free while the work threads parse or wait.
            healthz = 0
            while any(t.is_alive() for t in ts):
                st, _, body = k.request("GET", "/healthz", token=None)
                assert st == 200 and b"ok" in body, (st, body)
                healthz += 1
                ts[0].join(timeout=0.2)
            for t in ts:
                t.join()
            peak = status_kb(pid, "VmHWM")
            print(f"INFO {UPLOADS} concurrent uploads of a 1M-node model "
                  f"({len(data) / 1e6:.0f} MB), work_threads = {UPLOADS}: kilnd's peak RSS "
                  f"{before / 1024:.0f} -> {peak / 1024:.0f} MB; {healthz} /healthz answered "
                  "meanwhile", flush=True)
            for i in range(UPLOADS):
                st, o = results[i]
                assert st == 201, (i, st, o)
                assert o["inspection"]["outputs"][0]["name"] == last, o["inspection"]["outputs"]
            S["peak"] = peak
        R.check("four_concurrent_big_uploads_are_inspected_and_stored",
                concurrent_big_uploads)

        def peak_under_320_mb():
            assert "peak" in S, "the uploads did not finish"
            assert S["peak"] < LIMIT_KB, f"peak RSS {S['peak']} KB, over {LIMIT_KB} KB"
        if sanitized():
            R.skip("four_concurrent_inspections_of_a_1m_node_model_stay_under_320_mb",
                   "kilnd is built with ASan, whose quarantine and shadow memory count in "
                   "its RSS; the bound is checked on the plain build")
        else:
            R.check("four_concurrent_inspections_of_a_1m_node_model_stay_under_320_mb",
                    peak_under_320_mb)
    finally:
        rc = k.stop()

    def kilnd_exits_cleanly():
        assert rc == 0, f"kilnd exited with status {rc}"
    R.check("kilnd_exits_cleanly", kilnd_exits_cleanly)
    R.done()


main()
