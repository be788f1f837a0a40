"""Start a real kilnd for a Python test and talk HTTP to it.

The Python side of tests/lib/kt_server.c: a fresh data dir, an ephemeral
port, readiness from kilnd's --ready-fd pipe (no sleeps), the admin token
from admin.token, and small urllib helpers.  Run with Debian's
/usr/bin/python3 (tests/run.sh does).
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KILND = os.environ.get("KILND", os.path.join(ROOT, os.environ.get("KILN_BUILD", "build"), "kilnd"))


def sanitized(path=KILND):
    """True when the binary at path was built with ASan (make check builds
    build-asan that way): its RSS then counts the sanitizer's quarantine of
    freed memory and its shadow, not what Kiln holds, so memory bounds are
    checked on the plain build (make test) only."""
    with open(path, "rb") as f:
        return b"libasan.so" in f.read()


def get(conn, path, headers):
    """GET on a kept-alive connection: (status, headers dict, body)."""
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


class Kilnd:
    def __init__(self, ini=None):
        self.dir = tempfile.mkdtemp(prefix="kiln-py-")
        self.data = os.path.join(self.dir, "var")
        args = [KILND, "--listen", "127.0.0.1:0", "--data-dir", self.data]
        if ini is not None:
            path = os.path.join(self.dir, "kiln.ini")
            with open(path, "w") as f:
                f.write(ini)
            args += ["--config", path]
        r, w = os.pipe()
        args += ["--ready-fd", str(w)]
        self.log = open(os.path.join(self.dir, "kilnd.log"), "wb")
        self.proc = subprocess.Popen(args, pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as rf:
            addr = rf.readline().strip()  # blocks until ready, or EOF if kilnd died
        if not addr:
            self.proc.wait()
            raise RuntimeError("kilnd did not start: " + self.log_text())
        self.base = "http://" + addr
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.dir, "kilnd.log"), errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, ctype=None, token="admin", headers=None):
        """Returns (status, headers dict, body bytes)."""
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if token == "admin":
            token = self.token
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if ctype:
            req.add_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method, path, obj=None, **kw):
        body = json.dumps(obj).encode() if obj is not None else None
        status, _, data = self.request(method, path, body,
                                       "application/json" if body is not None else None, **kw)
        return status, (json.loads(data) if data else None)

    def upload_dataset(self, name, body, ctype="application/octet-stream", token="admin"):
        """POSTs a calibration archive.  kilnd answers 202 with a dataset in
        state "ingesting" and ingests it off the HTTP threads; this then
        long-polls GET ?wait=60 (kilnd parks the request until the state
        changes) and returns (status of the POST, its reply, the final record:
        "ready", "rejected" or "failed"; None when the POST was refused)."""
        st, _, data = self.request("POST", f"/api/v1/datasets?name={name}", body, ctype,
                                   token=token)
        first = json.loads(data) if data else None
        if st != 202:
            return st, first, None
        for _ in range(20):
            st2, rec = self.json("GET", f"/api/v1/datasets/{first['id']}?wait=60", token=token)
            assert st2 == 200, (st2, rec)
            if rec["state"] != "ingesting":
                return st, first, rec
        raise AssertionError(f"dataset {first['id']} still ingesting after 20 minutes")

    def connections(self, n):
        """n kept-alive HTTP connections to kilnd.  A connection stays on
        one of kilnd's pool threads, so n over the thread count reaches
        every thread's per-thread caches; close them when done."""
        host, port = self.base[len("http://"):].rsplit(":", 1)
        return [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(n)]

    def stop(self):
        """SIGTERM; returns kilnd's exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        if rc == 0 and os.environ.get("KT_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    def stop_reported(self, report):
        """stop(), recorded in report as kilnd_stops_cleanly (with the exit
        status and the log's tail when it is not 0); returns the status."""
        rc = self.stop()
        if rc != 0:
            report.fail("kilnd_stops_cleanly", f"exit {rc}: {self.log_text()[-2000:]}")
        else:
            report.ok("kilnd_stops_cleanly")
        return rc
