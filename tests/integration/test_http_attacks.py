"""Attacks on kilnd's HTTP layer that once worked, kept as tests (issue 14
items 3, 5 and 7): each is bounded in count and time and talks to loopback
addresses only (127.0.0.0/8).

- An event stream of a job queued before a restart (no event ring) sent a
  fresh snapshot on every read: 129 MB in 5 s.  Now one snapshot, then
  nothing until an event.
- Slowloris: connections that send one header line now and then were kept
  forever and filled the connection limit.  Now a request's headers have
  header_timeout seconds, and a fresh client from another address is served.
- Small ones: see each check's name.

Byte counts are measured over a deadline with select(), never by sleeping
and looking afterwards.  Run with Debian's /usr/bin/python3 (tests/run.sh).
"""
import json
import os
import select
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
import test_jobs_http as J  # noqa: E402  (its Daemon, ini, uploads; main() is not run)

R = F.Report("test_http_attacks")


def addr_of(k):
    host, port = k.base[len("http://"):].rsplit(":", 1)
    return host, int(port)


def open_stream(k, path, token=None, src="127.0.0.1"):
    """Sends a GET for an event stream on a raw socket; returns the socket
    once the reply's header block has been read, that block, and the body
    bytes that came with it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(30)
    s.connect(addr_of(k))
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token or k.token}"
               "\r\nAccept: text/event-stream\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        assert b, head
        head += b
    head, _, rest = head.partition(b"\r\n\r\n")
    return s, head, rest


def read_for(s, seconds, cap=64 << 20, until=None):
    """Reads what arrives within `seconds` (a deadline, with select) or
    until the peer closes, cap bytes, or the bytes end with `until`;
    returns (bytes, ended: closed or `until` seen)."""
    end = time.monotonic() + seconds
    got = bytearray()
    while len(got) < cap:
        left = end - time.monotonic()
        if left <= 0:
            return bytes(got), False
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return bytes(got), False
        b = s.recv(1 << 16)
        if not b:
            return bytes(got), True
        got += b
        if until and got.endswith(until):
            return bytes(got), True
    return bytes(got), False


# --- item 3: the event stream of a job queued before a restart ---------------------

def sse_after_restart():
    top = os.path.join(J.tempfile.mkdtemp(prefix="kiln-attacks-"), "d")
    os.makedirs(top)
    env = {"KILN_DOUBLE_HANG": "pulsar:build"}   # the first job's step never ends
    ini = J.ini(workers=1)
    k = J.Daemon(ini, env, data_dir=top)
    try:
        ds = J.upload_dataset(k)
        target, model, spec = [c for c in J.cases() if c[0] == "axera-pi"][0]
        m = J.upload_model(k, "cls", model)
        jobs = []
        for i in range(3):
            st, job = J.submit(k, dict(spec, model=m["id"], dataset=ds["id"], target=target,
                                       name=f"q{i}", cache=False))
            assert st == 202, (st, job)
            jobs.append(job["id"])
        k.events(jobs[0], stop=lambda e: e["event"] == "step" and "build" in e["data"]["name"])
        assert k.stop() == 0
        k = J.Daemon(ini, env, data_dir=top)
        st, third = k.json("GET", f"/api/v1/jobs/{jobs[2]}")
        assert st == 200 and third["state"] == "queued", third
        s, head, first = open_stream(k, f"/api/v1/jobs/{jobs[2]}/events")
        try:
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            # Before the fix this read ~50 MB in the interval (a snapshot per
            # read); now one snapshot and then nothing until an event.
            got, closed = read_for(s, 2.0)
            got = first + got
            assert not closed, got[-300:]
            assert len(got) < 16384, f"{len(got)} bytes in 2 s for a queued job"
            assert got.count(b"event: job") == 1, got.count(b"event: job")
            # The stream is alive: cancelling the job reaches it, and it ends.
            st, r = k.json("POST", f"/api/v1/jobs/{jobs[2]}/cancel")
            assert st == 202, (st, r)
            more, ended = read_for(s, 30.0, until=b"0\r\n\r\n")  # the last chunk
            assert ended and b"cancelled" in more, more[-500:]
            assert len(more) < 16384, len(more)
        finally:
            s.close()
        # A revoked token's open stream ends at once (it used to stay open).
        st, tok = k.json("POST", "/api/v1/tokens", {"name": "watcher", "role": "user"})
        assert st == 201, (st, tok)
        s, head, _ = open_stream(k, f"/api/v1/jobs/{jobs[1]}/events", token=tok["token"])
        try:
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            st, _ = k.json("DELETE", f"/api/v1/tokens/{tok['id']}")
            assert st == 204, st
            _, ended = read_for(s, 5.0, until=b"0\r\n\r\n")
            assert ended, "the revoked token's event stream is still open after 5 s"
        finally:
            s.close()
        for j in jobs[:2]:
            k.json("POST", f"/api/v1/jobs/{j}/cancel")
        print(f"# sse after restart: {len(got)} bytes in 2 s while queued", flush=True)
    finally:
        rc = k.stop()
        assert rc == 0, f"kilnd exit {rc}"
        J.shutil.rmtree(os.path.dirname(top), ignore_errors=True)


# --- item 5: slowloris ---------------------------------------------------------------

SLOW_ADDRS = [f"127.0.0.{i}" for i in range(2, 10)]   # 8 attacking addresses
SLOW_PER_ADDR = 40                                    # over the per-address limit
HEADER_TIMEOUT = 2
SLOW_INI = ("[server]\nconnection_limit = 256\nper_ip_connection_limit = 32\n"
            f"header_timeout = {HEADER_TIMEOUT}\naccess_log = off\n")


def probe(k, src="127.0.0.200", timeout=1.0):
    """GET /healthz from src on a fresh connection; returns (status line or
    None, seconds)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(addr_of(k))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = b""
        while b"\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
        line = got.split(b"\r\n", 1)[0].decode(errors="replace") if b"\r\n" in got else None
    except OSError:
        line = None
    finally:
        s.close()
    return line, time.monotonic() - t0


class Slow:
    """One slowloris connection: a request line, then a header line now and
    then, never the blank line that ends the headers."""

    def __init__(self, k, src):
        self.src = src
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.bind((src, 0))
        self.s.settimeout(2)
        self.s.connect(addr_of(k))
        self.s.setblocking(False)
        self.opened = time.monotonic()
        self.lines = 0
        self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    def send(self, data):
        try:
            self.s.send(data)
        except OSError:
            pass

    def trickle(self):
        self.lines += 1
        self.send(f"X-Slow-{self.lines}: x\r\n".encode())

    def ended(self):
        """True when the server has closed (or answered) it."""
        try:
            b = self.s.recv(4096)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True  # end of stream, or an answer (a 4xx): either way it is over


def slowloris():
    k = J.Daemon(SLOW_INI)
    conns, ages, probes, opened = [], [], [], 0
    most_open = 0
    try:
        # One address over its limit: the connections past 32 end at once
        # (libmicrohttpd's per-address limit), the rest at header_timeout.
        first = [Slow(k, "127.0.0.20") for _ in range(SLOW_PER_ADDR)]
        t0 = time.monotonic()
        early, late = 0, []
        while first and time.monotonic() - t0 < HEADER_TIMEOUT + 3:
            r, _, _ = select.select([c.s for c in first], [], [], 0.2)
            for c in [c for c in first if c.s in r and c.ended()]:
                age = time.monotonic() - c.opened
                if age < HEADER_TIMEOUT - 0.5:
                    early += 1
                else:
                    late.append(age)
                c.s.close()
                first.remove(c)
        for c in first:
            c.s.close()
        assert early == SLOW_PER_ADDR - 32, f"{early} ended at once, want {SLOW_PER_ADDR - 32}"
        assert not first and len(late) == 32, (len(first), len(late))
        assert max(late) < HEADER_TIMEOUT + 2.5, max(late)  # the reaper ticks once a second
        print(f"# one address: {early} refused over the limit, 32 cut after "
              f"{min(late):.1f}-{max(late):.1f} s (header_timeout {HEADER_TIMEOUT})", flush=True)
        for src in SLOW_ADDRS:
            for _ in range(SLOW_PER_ADDR):
                conns.append(Slow(k, src))
                opened += 1
        end = time.monotonic() + 4 * HEADER_TIMEOUT
        next_trickle = next_probe = time.monotonic()
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_probe:
                probes.append(probe(k))
                next_probe = now + 0.25
            if now >= next_trickle:
                for c in conns:
                    c.trickle()
                # The attacker comes back for every place it lost (bounded).
                for src in SLOW_ADDRS:
                    have = sum(1 for c in conns if c.src == src)
                    for _ in range(SLOW_PER_ADDR - have):
                        if opened < 3000:
                            conns.append(Slow(k, src))
                            opened += 1
                next_trickle = now + 0.5
            r, _, _ = select.select([c.s for c in conns], [], [], 0.05)
            if r:
                gone = [c for c in conns if c.s in r and c.ended()]
                for c in gone:
                    ages.append(time.monotonic() - c.opened)
                    c.s.close()
                    conns.remove(c)
            most_open = max(most_open, len(conns))
        oldest = max(time.monotonic() - c.opened for c in conns) if conns else 0
        ok = [t for line, t in probes if line and line.startswith("HTTP/1.1 200")]
        print(f"# slowloris: {len(ok)}/{len(probes)} /healthz probes answered, slowest "
              f"{max(t for _, t in probes) * 1000:.0f} ms, {opened} slow connections opened "
              f"from {len(SLOW_ADDRS)} addresses, {len(conns)} open at the end, oldest "
              f"{oldest:.1f} s", flush=True)
        assert len(probes) >= 10, len(probes)
        assert len(ok) == len(probes), f"{len(probes) - len(ok)} of {len(probes)} probes failed"
        assert max(t for _, t in probes) < 1.0, max(t for _, t in probes)
        st, _, text = k.request("GET", "/metrics")
        cut = {r: float(line.rsplit(" ", 1)[1]) for line in text.decode().splitlines()
               for r in ("header_timeout", "make_room")
               if line.startswith(f'kiln_http_connections_cut_total{{reason="{r}"}}')}
        print(f"# /metrics: connections cut {cut}", flush=True)
        assert cut.get("header_timeout", 0) >= 32 and cut.get("make_room", 0) > 0, cut
        # No connection outlived header_timeout by more than the reaper's tick.
        assert oldest < HEADER_TIMEOUT + 2.5, f"a slow connection is {oldest:.1f} s old"
        assert ages and max(ages) < HEADER_TIMEOUT + 2.5, max(ages or [0])
    finally:
        for c in conns:
            c.s.close()
        rc = k.stop()
        assert rc == 0, f"kilnd exit {rc}"


# --- item 7: the small ones ---------------------------------------------------------

def raw(k, text, src="127.0.0.1"):
    """One raw request (Connection: close); returns (status, headers text,
    body) or (None, '', b'') when the server hung up without a reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(addr_of(k))
    s.sendall(text.encode())
    got, _ = read_for(s, 10.0)
    s.close()
    if not got.startswith(b"HTTP/1."):
        return None, "", b""
    head, _, body = got.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(errors="replace"), body


def get(k, path, token="admin"):
    tok = k.token if token == "admin" else token
    auth = f"Authorization: Bearer {tok}\r\n" if tok else ""
    return raw(k, f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")


def small_items():
    k = J.Daemon("[server]\naccess_log = off\n")
    try:
        def nul_in_path():
            for path in ("/healthz%00x", "/api/v1/jobs/1%00", "/api/v1/jobs?state=queued%00x"):
                st, _, body = get(k, path)
                assert st == 400 and b"%00" in body, (path, st, body[:200])
        R.check("a_nul_byte_in_the_url_is_400_not_cut", nul_in_path)

        def id_past_llong_max():
            st, _, body = get(k, "/api/v1/jobs/9223372036854775808")
            assert st == 400 and json.loads(body)["error"]["field"] == "id", (st, body[:200])
            st, _, _ = get(k, "/api/v1/jobs/9223372036854775807")
            assert st == 404, st
        R.check("an_id_past_llong_max_is_400_not_read_as_llong_max", id_past_llong_max)

        def many_query_args():
            q = "&".join(f"a{i}=1" for i in range(1000))
            st, _, body = get(k, "/api/v1/jobs?" + q)
            assert st == 400 and b"query arguments" in body, (st, body[:200])
            st, _, _ = get(k, "/api/v1/jobs?" + "&".join(f"a{i}=1" for i in range(100)))
            assert st == 200, st
        R.check("a_thousand_query_arguments_get_400_not_a_hang_up", many_query_args)

        def nosniff():
            for path, token in (("/healthz", None), ("/api/v1/jobs", "admin"),
                                ("/api/v1/nothing", "admin"), ("/api/v1/jobs", None)):
                st, head, _ = get(k, path, token)
                assert "\r\nX-Content-Type-Options: nosniff" in head, (path, st, head)
        R.check("every_reply_says_nosniff", nosniff)

        def one_list_rule():
            for path in ("/api/v1/jobs", "/api/v1/models", "/api/v1/tokens"):
                assert k.json("GET", path + "?limit=1000")[0] == 200, path
                st, r = k.json("GET", path + "?limit=1001")
                assert st == 400 and r["error"]["field"] == "limit", (path, st, r)
                assert k.json("GET", path + "?limit=0")[0] == 400, path
        R.check("every_list_takes_limit_1_to_1000", one_list_rule)

        def private_files():
            mode = lambda p: os.stat(p).st_mode & 0o777  # noqa: E731
            assert mode(k.data) == 0o700, oct(mode(k.data))
            assert mode(os.path.join(k.data, "kiln.db")) == 0o600
            J.upload_model(k, "m", F.classifier())
            blobs = []
            for top, _, files in os.walk(os.path.join(k.data, "blobs")):
                blobs += [os.path.join(top, f) for f in files]
            assert blobs, "no blob written"
            bad = [b for b in blobs if mode(b) & 0o077]
            assert not bad, [(b, oct(mode(b))) for b in bad[:3]]
        R.check("data_dir_is_0700_and_kiln_db_and_blobs_0600", private_files)

        def session_needs_json_and_same_origin():
            body = json.dumps({"token": k.token}).encode()
            st, _, r = k.request("POST", "/api/v1/session", body, "text/plain", token=None)
            assert st == 415, (st, r[:200])
            st, h, r = k.request("POST", "/api/v1/session", body, "application/json", token=None,
                                 headers={"Origin": "http://evil.example"})
            assert st == 403 and "Set-Cookie" not in h, (st, r[:200])
            host = k.base[len("http://"):]
            st, h, r = k.request("POST", "/api/v1/session", body, "application/json", token=None,
                                 headers={"Origin": "http://" + host})
            assert st == 201 and h.get("Set-Cookie", "").startswith("kiln_session="), (st, r)
        R.check("session_sign_in_needs_json_and_its_own_origin",
                session_needs_json_and_same_origin)

        def second_kilnd_on_the_port_is_refused():
            # With SO_REUSEPORT a second kilnd bound the same port and took
            # half the connections: a valid token then got 401s from the
            # other database.  It must fail to start instead, naming why.
            import subprocess
            import tempfile
            host, port = addr_of(k)
            d = tempfile.mkdtemp(prefix="kiln-second-")
            p = subprocess.run([J.kiln_server.KILND, "--listen", f"{host}:{port}",
                                "--data-dir", os.path.join(d, "var")],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode != 0, p.stderr[-300:]
            assert f"cannot listen on {host}:{port}" in p.stderr, p.stderr[-300:]
            st, _, _ = k.request("GET", "/api/v1/tokens")
            assert st == 200, st
        R.check("a_second_kilnd_on_the_same_port_fails_to_start",
                second_kilnd_on_the_port_is_refused)
    finally:
        rc = k.stop()
        assert rc == 0, f"kilnd exit {rc}"


def deploy_leftovers():
    """A kill -9 mid-deployment left deploy/<id>/ and an ssh child: a
    stand-in for both (a staging folder with a dangling archive link, and a
    process carrying the deployment clients' marker) must be gone once
    kilnd has started."""
    top = J.tempfile.mkdtemp(prefix="kiln-attacks-")
    data = os.path.join(top, "var")
    staging = os.path.join(data, "deploy", "7")
    os.makedirs(staging)
    with open(os.path.join(staging, "kiln_test.py"), "w") as f:
        f.write("print('x')\n")
    os.symlink(os.path.join(data, "blobs", "gone"), os.path.join(staging, "bundle.tar.gz"))
    os.makedirs(os.path.join(data, "deploy", "notanid"))  # not ours to remove
    env = dict(os.environ, KILN_DEPLOY_DIR=os.path.realpath(data) + "/deploy")
    child = J.subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    other = J.subprocess.Popen(["sleep", "300"], start_new_session=True)  # no marker
    k = None
    try:
        k = J.Daemon("[server]\naccess_log = off\n", data_dir=top)
        assert child.wait(timeout=10) == -9, "the leftover client was not killed"
        assert other.poll() is None, "a process without the marker was killed"
        assert not os.path.exists(staging), os.listdir(staging)
        assert os.path.isdir(os.path.join(data, "deploy", "notanid"))
    finally:
        for p in (child, other):
            if p.poll() is None:
                p.kill()
                p.wait()
        if k is not None:
            assert k.stop() == 0
        J.shutil.rmtree(top, ignore_errors=True)


def marked_pids(marker):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in env:
            out.append(int(p))
    return out


def kill9_mid_deployment():
    """The real thing: a deployment whose ssh hangs on a loopback port that
    accepts and never answers, kilnd killed -9, kilnd started again."""
    sys.path.insert(0, os.path.join(HERE, "..", "deploy"))
    import board_lib as B
    top = J.tempfile.mkdtemp(prefix="kiln-attacks-")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent.settimeout(30)
    ini = "[server]\naccess_log = off\n[deploy]\nconnect_timeout = 300\nstep_timeout = 300\n"
    k = J.Daemon(ini, data_dir=top)
    peers, pidfds = [], []
    try:
        b = B.add_bundle(k, B.make_bundle_dir(top, "det", "maixcam"), "det", "maixcam")
        st, dev = k.json("POST", "/api/v1/devices", {
            "name": "silent", "target": "maixcam", "transport": "ssh",
            "address": f"root@127.0.0.1:{silent.getsockname()[1]}"})
        assert st == 201, (st, dev)
        st, d = k.json("POST", "/api/v1/deployments", {"bundle": b["id"], "device": dev["id"]})
        assert st == 202, (st, d)
        peers.append(silent.accept()[0])      # the deployment's client has connected
        marker = "KILN_DEPLOY_DIR=" + os.path.realpath(k.data) + "/deploy"
        pids = marked_pids(marker)
        assert pids, "no running deployment client carries " + marker
        staging = os.path.join(k.data, "deploy", str(d["id"]))
        assert os.path.isdir(staging), staging
        pidfds = [os.pidfd_open(p) for p in pids]
        k.kill9()
        alive = [fd for fd in pidfds if not select.select([fd], [], [], 0)[0]]
        assert alive, "the clients died with kilnd; nothing left to test"
        k = J.Daemon(ini, data_dir=top)
        # A pidfd turns readable when its process ends: wait on that, bounded.
        end = time.monotonic() + 10
        while alive and time.monotonic() < end:
            r, _, _ = select.select(alive, [], [], end - time.monotonic())
            alive = [fd for fd in alive if fd not in r]
        assert not alive, f"{len(alive)} deployment clients still run after the restart"
        assert not os.path.exists(staging), os.listdir(staging)
        st, o = k.json("GET", f"/api/v1/deployments/{d['id']}")
        assert st == 200 and o["state"] == "failed", o
        print(f"# kill -9 mid-deployment: {len(pids)} ssh/scp clients left, killed at restart",
              flush=True)
    finally:
        for fd in pidfds:
            os.close(fd)
        for c in peers:
            c.close()
        silent.close()
        assert k.stop() == 0
        J.shutil.rmtree(top, ignore_errors=True)


def main():
    R.check("events_of_a_job_queued_before_a_restart_send_one_snapshot_not_a_flood",
            sse_after_restart)
    R.check("slowloris_from_8_addresses_is_cut_at_header_timeout_and_healthz_answers",
            slowloris)
    small_items()
    R.check("a_restart_kills_deployment_clients_and_removes_staging_a_kill_9_left",
            deploy_leftovers)
    R.check("kill_9_mid_deployment_then_restart_leaves_no_ssh_client_or_staging",
            kill9_mid_deployment)
    R.done()


if __name__ == "__main__":
    main()
