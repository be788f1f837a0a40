"""Bundles out over real HTTP, and deploy/kiln-pull.sh driven against a real
kilnd from a busybox userland: archive ETag/304/Range/416/HEAD, file
download, device registration and roles, first pull, 304 next time, resume
after the server side is cut half way, sha256 mismatch refused with the old
model kept, reports recorded; the same with busybox wget and no curl."""
import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading

from board_lib import (Kilnd, Report, add_bundle, blob_path, busybox_board, make_bundle_dir,
                       run_pull)

R = Report("test_pull")
K = Kilnd()
WORK = tempfile.mkdtemp(prefix="kiln-pull-")
S = {}


def setup():
    d = make_bundle_dir(WORK, "det", payload=200_000, seed=1)
    S["a"] = add_bundle(K, d, "det", "maixcam")
    S["user"] = K.json("POST", "/api/v1/tokens", {"name": "alice", "role": "user"})[1]["token"]


def archive_conditional_and_ranges():
    a = S["a"]
    path = f"/api/v1/bundles/{a['id']}/archive"
    st, h, body = K.request("GET", path)
    assert st == 200, st
    assert hashlib.sha256(body).hexdigest() == a["sha256"]
    assert h["ETag"] == '"%s"' % a["sha256"], h
    # the download is named for the model, the board and the bundle (issue 17)
    want = f'attachment; filename="det-maixcam-{a["id"]}.tar.gz"'
    assert h["Content-Disposition"] == want, h["Content-Disposition"]
    st, h, body = K.request("GET", path, headers={"If-None-Match": h["ETag"]})
    assert st == 304 and body == b"", st
    st, h, body = K.request("GET", path, headers={"Range": "bytes=100-199"})
    assert st == 206 and len(body) == 100, (st, len(body))
    assert h["Content-Range"] == f"bytes 100-199/{a['size']}", h
    st, h, body = K.request("GET", path, headers={"Range": "bytes=-10"})
    assert st == 206 and len(body) == 10
    st, h, body = K.request("GET", path, headers={"Range": f"bytes={a['size']}-"})
    assert st == 416, st
    assert h["Content-Range"] == f"bytes */{a['size']}", h
    # If-Range with a stale validator: the whole (new) file, not a splice.
    st, h, body = K.request("GET", path, headers={"Range": "bytes=0-9", "If-Range": '"x"'})
    assert st == 200 and len(body) == a["size"], st
    st, h, body = K.request("HEAD", path)
    assert st == 200 and body == b"" and int(h["Content-Length"]) == a["size"], (st, h)


def bundle_records_and_files():
    a = S["a"]
    st, o = K.json("GET", f"/api/v1/bundles/{a['id']}")
    assert st == 200 and o["manifest"]["name"] == "det", o
    names = [f["name"] for f in o["files"]]
    assert "det.mud" in names, names
    st, h, body = K.request("GET", f"/api/v1/bundles/{a['id']}/files/det.mud")
    assert st == 200 and b"model_type = yolov8" in body, st
    st, _ = K.json("GET", f"/api/v1/bundles/{a['id']}/files/nope.bin")
    assert st == 404
    st, o = K.json("GET", "/api/v1/bundles?target=maixcam&name=det")
    assert st == 200 and [b["id"] for b in o["items"]] == [a["id"]], o
    st, o = K.json("GET", "/api/v1/bundles?target=axera-pi")
    assert st == 200 and o["items"] == [], o


def register(name, transport="pull", address=None, target="maixcam"):
    body = {"name": name, "target": target, "transport": transport}
    if address is not None:
        body["address"] = address
    return K.json("POST", "/api/v1/devices", body)


def device_roles_and_bad_addresses():
    st, dev = register("cam1")
    assert st == 201 and dev["token"].startswith("kiln_"), (st, dev)
    S["dev"] = dev
    st, again = K.json("GET", f"/api/v1/devices/{dev['id']}")
    assert st == 200 and "token" not in again, again
    # A device token on a user route, a user token on /pull.
    st, _ = K.json("GET", "/api/v1/bundles", token=dev["token"])
    assert st == 403, st
    st, _ = K.json("GET", "/api/v1/pull", token=S["user"])
    assert st == 403, st
    st, _, _ = K.request("GET", "/api/v1/pull", token=dev["token"])
    assert st == 204, st  # nothing assigned yet
    for bad in ["root@127.0.0.1;reboot", "$(id)@host", "host`id`", "a b", "-oProxyCommand=x",
                "root@host:22|sh", "root@host:99999"]:
        st, o = register("bad", "ssh", bad)
        assert st == 400 and o["error"]["field"] == "address", (bad, st, o)
    st, o = register("bad", "adb", "serial;rm")
    assert st == 400, st
    st, o = register("cam1")
    assert st == 409, st


def first_pull_then_304():
    bindir = busybox_board(WORK)
    dev = S["dev"]
    models = os.path.join(WORK, "models")
    S["models"], S["bindir"] = models, bindir
    p = run_pull(bindir, K.base, dev["token"], models)
    assert p.returncode == 0 and "nothing is assigned" in p.stderr, p.stderr
    st, o = K.json("PUT", f"/api/v1/devices/{dev['id']}/assignment", {"model_name": "det"})
    assert st == 200 and o["assignment"]["resolved_bundle"] == S["a"]["id"], o
    p = run_pull(bindir, K.base, dev["token"], models)
    assert p.returncode == 0, p.stderr
    man = json.load(open(os.path.join(models, "det", "manifest.json")))
    assert man["name"] == "det"
    st, o = K.json("GET", f"/api/v1/devices/{dev['id']}")
    assert o["installed_bundle"] == S["a"]["id"] and o["last_status"] == "installed", o
    assert o["reports"][0]["status"] == "installed", o
    n_reports = len(o["reports"])
    log_before = K.log_text().count("status=304")
    p = run_pull(bindir, K.base, dev["token"], models)
    assert p.returncode == 0, p.stderr
    assert K.log_text().count("status=304") == log_before + 1
    st, o = K.json("GET", f"/api/v1/devices/{dev['id']}")
    assert len(o["reports"]) == n_reports, "a 304 must not add a report"


class CuttingProxy(threading.Thread):
    """Forwards one connection to kilnd and closes it after `cut` response
    bytes: the server-side drop the resume has to survive."""

    def __init__(self, upstream, cut):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.upstream, self.cut = upstream, cut

    def run(self):
        c, _ = self.sock.accept()
        host, port = self.upstream.split(":")
        u = socket.create_connection((host, int(port)))
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(65536)
        u.sendall(req)
        sent = 0
        while sent < self.cut:
            data = u.recv(min(65536, self.cut - sent))
            if not data:
                break
            c.sendall(data)
            sent += len(data)
        c.shutdown(socket.SHUT_RDWR)
        c.close()
        u.close()
        self.sock.close()


def rebuilt(d, name, dev):
    """A newer bundle of the name the device is assigned.  bundle_add writes
    kiln.db from outside kilnd, and kilnd's poll answers are kept until a
    commit of its own changes devices, assignments or bundles (a job's new
    bundle is such a commit; see runtime/db.c db_changes), so the
    assignment is put again, as a user would."""
    b = add_bundle(K, d, name, "maixcam")
    st, o = K.json("PUT", f"/api/v1/devices/{dev['id']}/assignment", {"model_name": name})
    assert st == 200 and o["assignment"]["resolved_bundle"] == b["id"], o
    return b


def resume_after_cut():
    d = make_bundle_dir(WORK, "det", payload=3_000_000, seed=2)
    b = rebuilt(d, "det", S["dev"])
    S["b"] = b
    proxy = CuttingProxy(K.base[len("http://"):], 1_000_000)
    proxy.start()
    p = run_pull(S["bindir"], f"http://127.0.0.1:{proxy.port}", S["dev"]["token"], S["models"])
    proxy.join(30)
    assert p.returncode == 1 and "interrupted" in p.stderr, (p.returncode, p.stderr)
    part = os.path.join(S["models"], ".kiln-pull", "download.part")
    have = os.path.getsize(part)
    assert 0 < have < b["size"], have
    man = json.load(open(os.path.join(S["models"], "det", "manifest.json")))
    assert man["files"] != [], "the old model must still be in place"
    n206 = K.log_text().count("status=206")
    p = run_pull(S["bindir"], K.base, S["dev"]["token"], S["models"])
    assert p.returncode == 0, p.stderr
    assert K.log_text().count("status=206") == n206 + 1, "the second run must resume with Range"
    st, o = K.json("GET", f"/api/v1/devices/{S['dev']['id']}")
    assert o["installed_bundle"] == b["id"], o
    with open(os.path.join(S["models"], "det", "det_int8.cvimodel"), "rb") as f:
        assert len(f.read()) == 3_000_000


def sha_mismatch_keeps_old_model():
    d = make_bundle_dir(WORK, "det", payload=50_000, seed=3)
    c = rebuilt(d, "det", S["dev"])
    path = blob_path(K, c["sha256"])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # a disk or proxy corrupting bytes in flight
        f.seek(c["size"] // 2)
        byte = f.read(1)
        f.seek(c["size"] // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = open(os.path.join(S["models"], "det", "det_int8.cvimodel"), "rb").read()
    p = run_pull(S["bindir"], K.base, S["dev"]["token"], S["models"])
    assert p.returncode == 1 and "sha256 mismatch" in p.stderr, p.stderr
    after = open(os.path.join(S["models"], "det", "det_int8.cvimodel"), "rb").read()
    assert before == after and len(after) == 3_000_000
    assert not os.path.exists(os.path.join(S["models"], "det.new"))
    st, o = K.json("GET", f"/api/v1/devices/{S['dev']['id']}")
    assert o["last_status"] == "failed" and "sha256 mismatch" in o["last_detail"], o
    assert o["installed_bundle"] == S["b"]["id"], o


def corrupt_blob(bundle):
    """Flip one byte in the middle of a bundle's stored archive: a disk or a
    proxy corrupting bytes in flight."""
    path = blob_path(K, bundle["sha256"])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(bundle["size"] // 2)
        byte = f.read(1)
        f.seek(bundle["size"] // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


def wget_board():
    """A board with busybox wget and no curl: the script's second branch."""
    bindir = busybox_board(os.path.join(WORK, "wget-board"), with_curl=False)
    assert not os.path.exists(os.path.join(bindir, "curl")), "curl must be absent"
    assert os.path.realpath(os.path.join(bindir, "wget")) == os.path.realpath(
        shutil.which("busybox")), "wget must be busybox's"
    return bindir


def wget_first_pull_then_304():
    os.makedirs(os.path.join(WORK, "wget-board"), exist_ok=True)
    bindir = wget_board()
    models = os.path.join(WORK, "wget-models")
    st, dev = register("cam-wget")
    assert st == 201, (st, dev)
    d = make_bundle_dir(WORK, "cls", payload=300_000, seed=4)
    g = add_bundle(K, d, "cls", "maixcam")
    S.update(wdev=dev, wmodels=models, wbindir=bindir, g=g)
    st, o = K.json("PUT", f"/api/v1/devices/{dev['id']}/assignment", {"model_name": "cls"})
    assert st == 200 and o["assignment"]["resolved_bundle"] == g["id"], o
    p = run_pull(bindir, K.base, dev["token"], models)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert "installed bundle" in p.stderr, p.stderr
    man = json.load(open(os.path.join(models, "cls", "manifest.json")))
    assert man["name"] == "cls", man
    with open(os.path.join(models, "cls", "cls_int8.cvimodel"), "rb") as f:
        assert len(f.read()) == 300_000
    assert open(os.path.join(models, ".kiln-pull", "etag")).read().strip() == g["sha256"]
    # The install report went out through wget --post-data.
    st, o = K.json("GET", f"/api/v1/devices/{dev['id']}")
    assert o["installed_bundle"] == g["id"] and o["last_status"] == "installed", o
    n_reports = len(o["reports"])
    n304 = K.log_text().count("status=304")
    p = run_pull(bindir, K.base, dev["token"], models)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert "installed" not in p.stderr, p.stderr
    assert K.log_text().count("status=304") == n304 + 1, "the second run must get a 304"
    st, o = K.json("GET", f"/api/v1/devices/{dev['id']}")
    assert len(o["reports"]) == n_reports, "a 304 must not add a report"
    assert not os.path.exists(os.path.join(models, ".kiln-pull", "download.part"))


def wget_sha_mismatch_keeps_old_model():
    dev, models, g = S["wdev"], S["wmodels"], S["g"]
    d = make_bundle_dir(WORK, "cls", payload=60_000, seed=5)
    h = add_bundle(K, d, "cls", "maixcam")
    corrupt_blob(h)
    st, o = K.json("PUT", f"/api/v1/devices/{dev['id']}/assignment", {"model_name": "cls"})
    assert st == 200 and o["assignment"]["resolved_bundle"] == h["id"], o
    model = os.path.join(models, "cls", "cls_int8.cvimodel")
    before = open(model, "rb").read()
    p = run_pull(S["wbindir"], K.base, dev["token"], models)
    assert p.returncode == 1 and "sha256 mismatch" in p.stderr, (p.returncode, p.stderr)
    after = open(model, "rb").read()
    assert before == after and len(after) == 300_000, "the old model must be kept"
    assert not os.path.exists(os.path.join(models, "cls.new"))
    assert open(os.path.join(models, ".kiln-pull", "etag")).read().strip() == g["sha256"]
    st, o = K.json("GET", f"/api/v1/devices/{dev['id']}")
    assert o["last_status"] == "failed" and "sha256 mismatch" in o["last_detail"], o
    assert o["installed_bundle"] == g["id"], o


def revoked_device_token():
    dev = S["dev"]
    st, _ = K.json("DELETE", f"/api/v1/tokens/{dev['token_id']}")
    assert st == 204, st
    st, _, _ = K.request("GET", "/api/v1/pull", token=dev["token"])
    assert st == 401, st
    p = run_pull(S["bindir"], K.base, dev["token"], S["models"])
    assert p.returncode == 1 and "401" in p.stderr, p.stderr


def main():
    setup()
    R.check("archive_is_cached_ranged_and_headable", archive_conditional_and_ranges)
    R.check("bundle_record_lists_files_and_serves_them", bundle_records_and_files)
    R.check("device_registration_roles_and_address_allow_list", device_roles_and_bad_addresses)
    if busybox_board(WORK) is None:
        R.skip("kiln_pull_first_pull_then_304", "busybox is not installed")
    else:
        R.check("kiln_pull_first_pull_then_304", first_pull_then_304)
        R.check("kiln_pull_resumes_after_the_server_cuts_the_download", resume_after_cut)
        R.check("kiln_pull_refuses_a_sha256_mismatch_and_keeps_the_old_model",
                sha_mismatch_keeps_old_model)
        R.check("kiln_pull_busybox_wget_first_pull_then_304", wget_first_pull_then_304)
        R.check("kiln_pull_busybox_wget_refuses_a_sha256_mismatch_and_keeps_the_old_model",
                wget_sha_mismatch_keeps_old_model)
    R.check("revoked_device_token_gets_401", revoked_device_token)
    rc = K.stop()
    if rc != 0:
        print(f"FAIL test_pull.kilnd_exit: kilnd exited {rc}")
        R.failed += 1
    R.done()


main()
