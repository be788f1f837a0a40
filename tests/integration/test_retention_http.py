"""Disk retention over real HTTP (issue 14 item 6): what kilnd removes from
its data directory and when, checked on the files themselves.

A real kilnd with every toolchain on the toolchain double (engine = local):
a succeeded job's workspace is gone once its bundle is stored; a failed one
is kept for debugging, and goes when the model or calibration set it copied
is deleted (no byte-identical copy of either stays anywhere under the data
dir); after a restart, a failed workspace older than
[jobs] failed_workspace_hours (0: at once) and a blob no record names, older than
[storage] orphan_grace, are swept while young orphans and named blobs stay;
[jobs] max_queued_per_token refuses one job more with 429 (per token); and a
disk below [storage] min_free / min_free_percent refuses uploads, jobs and
retries with 507 while reads and deletes still work.

Synchronisation is by SSE events and kilnd's ready pipe, never by sleeping.
Run with Debian's /usr/bin/python3 (tests/run.sh does).
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
import test_jobs_http as J  # noqa: E402  (Daemon, uploads, cases: one copy)

R = F.Report("test_retention_http")
# tpu-mlir's model_deploy reports a low similarity (maixcam jobs fail);
# legacy pulsar's build hangs (an axera-pi job holds the one worker).
ENV = {"KILN_DOUBLE_LOW_COSINE": "model_deploy:1", "KILN_DOUBLE_HANG": "pulsar:build"}


def ini(extra=""):
    return J.ini(workers=1) + "\n" + extra + "\n"


def with_jobs(extra_jobs, rest=""):
    """J.ini()'s [jobs] section with more keys in it."""
    text = J.ini(workers=1).replace("[jobs]\n", "[jobs]\n" + extra_jobs + "\n", 1)
    return text + "\n" + rest + "\n"


def spec(target):
    m, s = {t: (m, s) for t, m, s in J.cases()}[target]
    # maixcam's names a test image: model_deploy's similarity check (which
    # the double fails) compares on it.  Only failed jobs use maixcam here,
    # so no bundle keeps a copy of a dataset image.
    return m, dict(s)


def files_by_sha(top):
    """{sha256: [paths]} of every file under top except the database."""
    out = {}
    for d, _, names in os.walk(top):
        for n in names:
            if n.startswith("kiln.db"):
                continue
            p = os.path.join(d, n)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as f:
                out.setdefault(hashlib.sha256(f.read()).hexdigest(), []).append(p)
    return out


def job_dir(k, jid):
    return os.path.join(k.data, "jobs", str(jid))


def run_job(k, body, want):
    st, job = J.submit(k, body)
    assert st == 202, (st, job)
    got = J.final_state(k.events(job["id"]))
    assert got == want, (got, k.json("GET", f"/api/v1/jobs/{job['id']}")[1])
    return job["id"]


def tail_log(top):
    """The end of kilnd's log in top (a stopped Daemon's log file is closed)."""
    with open(os.path.join(top, "kilnd.log"), errors="replace") as f:
        return f.read()[-2000:]


def blob_path(k, sha):
    return os.path.join(k.data, "blobs", "sha256", sha[:2], sha)


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-retention-")
    a_dir = os.path.join(tmp, "a")
    os.makedirs(a_dir)
    a = J.Daemon(with_jobs("max_queued_per_token = 2"), ENV, data_dir=a_dir)
    state = {}
    try:
        ds = J.upload_dataset(a)

        def succeeded_workspace_goes():
            m, s = spec("maixcam2")
            mid = J.upload_model(a, "m2", m)["id"]
            jid = run_job(a, dict(s, model=mid, dataset=ds["id"], target="maixcam2"),
                          "succeeded")
            d = job_dir(a, jid)
            assert not os.path.exists(os.path.join(d, "work")), os.listdir(
                os.path.join(d, "work"))
            assert not os.path.exists(os.path.join(d, "bundle")), "staged bundle left"
            assert os.path.isfile(os.path.join(d, "log.txt")), os.listdir(d)
            st, job = a.json("GET", f"/api/v1/jobs/{jid}")
            st, _, tgz = a.request("GET", f"/api/v1/bundles/{job['bundle']}/archive")
            assert st == 200 and len(tgz) > 0, st
            st, _, log = a.request("GET", f"/api/v1/jobs/{jid}/log")
            assert st == 200 and b"succeeded" in log, (st, log[-200:])
        R.check("succeeded_job_workspace_is_removed_once_its_bundle_is_stored",
                succeeded_workspace_goes)

        m1, s1 = spec("maixcam")

        def failed_workspace_kept():
            rec = J.upload_model(a, "m1", m1)
            jid = run_job(a, dict(s1, model=rec["id"], dataset=ds["id"], target="maixcam"),
                          "failed")
            work = os.path.join(job_dir(a, jid), "work")
            assert os.path.isdir(work), "a failed job's workspace must be kept"
            copies = files_by_sha(a.data).get(rec["sha256"], [])
            assert any(p.startswith(work) for p in copies), copies
            state["m1"], state["j1"] = rec, jid
        R.check("failed_job_workspace_is_kept_for_debugging", failed_workspace_kept)

        def dataset_delete():
            st, full = a.json("GET", f"/api/v1/datasets/{ds['id']}")
            shas = {i["sha256"] for i in full["image_list"]} | {full["sha256"]}
            work = os.path.join(job_dir(a, state["j1"]), "work")
            assert os.path.isdir(work)
            st, r = a.json("DELETE", f"/api/v1/datasets/{ds['id']}")
            assert st == 204, (st, r)
            assert not os.path.exists(work), os.listdir(work)
            assert os.path.isfile(os.path.join(job_dir(a, state["j1"]), "log.txt"))
            left = {s: p for s, p in files_by_sha(a.data).items() if s in shas}
            assert not left, left
        R.check("deleting_a_dataset_removes_its_images_from_job_workspaces", dataset_delete)

        def model_delete():
            ds2 = J.upload_dataset(a)
            state["ds2"] = ds2
            rec = state["m1"]
            j2 = run_job(a, dict(s1, model=rec["id"], dataset=ds2["id"], target="maixcam"),
                         "failed")
            j3 = run_job(a, dict(s1, model=rec["id"], dataset=ds2["id"], target="maixcam",
                                 name="again"), "failed")
            copies = files_by_sha(a.data).get(rec["sha256"], [])
            assert len(copies) >= 3, copies  # the blob and two workspaces
            st, r = a.json("DELETE", f"/api/v1/models/{rec['id']}")
            assert st == 204, (st, r)
            left = files_by_sha(a.data).get(rec["sha256"], [])
            assert not left, left
            for j in (j2, j3):
                assert not os.path.exists(os.path.join(job_dir(a, j), "work")), j
        R.check("deleting_a_model_leaves_no_copy_of_it_on_disk", model_delete)

        def queued_limit():
            m, s = spec("axera-pi")
            mid = J.upload_model(a, "hang", m)["id"]
            body = dict(s, model=mid, dataset=state["ds2"]["id"], target="axera-pi")
            ids = []

            def submit(name, **kw):
                st, j = a.json("POST", "/api/v1/jobs", dict(body, name=name), **kw)
                if st == 202:
                    ids.append(j["id"])
                return st, j
            try:
                st, first = submit("h0")
                assert st == 202, first
                # the worker has it: wait until its hanging build step started
                a.events(first["id"], stop=lambda e: e["event"] == "step" and
                         "build" in e["data"]["name"])
                for i in (1, 2):
                    st, j = submit(f"h{i}")
                    assert st == 202 and j["state"] == "queued", (st, j)
                st, r = submit("h3")
                assert st == 429, (st, r)
                assert r["error"]["code"] == "too_many_requests", r
                assert "max_queued_per_token" in r["error"]["message"], r
                # another token has its own count
                st, tok = a.json("POST", "/api/v1/tokens", {"name": "other", "role": "user"})
                assert st == 201, tok
                st, j = submit("o1", token=tok["token"])
                assert st == 202, (st, j)
                # a freed place can be used again; a retry counts as a submit
                st, r = a.json("POST", f"/api/v1/jobs/{ids[1]}/cancel")
                assert st in (200, 202), r
                st, j = submit("h4")
                assert st == 202, (st, j)
                st, r = a.json("POST", f"/api/v1/jobs/{ids[1]}/retry")
                assert st == 429, (st, r)
            finally:
                # whatever happened, nothing may stay queued behind the hang
                for i in ids:
                    a.json("POST", f"/api/v1/jobs/{i}/cancel")
                if ids:
                    assert J.final_state(a.events(ids[0])) == "cancelled"
        R.check("queued_jobs_per_token_are_limited_with_429", queued_limit)

        def one_more_failed():
            m, s = spec("maixcam")
            rec = J.upload_model(a, "m4", m)
            jid = run_job(a, dict(s, model=rec["id"], dataset=state["ds2"]["id"],
                                  target="maixcam", name="expire"), "failed")
            assert os.path.isdir(os.path.join(job_dir(a, jid), "work"))
            state["m4"], state["j4"] = rec, jid
        R.check("another_failed_job_keeps_its_workspace", one_more_failed)
    finally:
        rc = a.stop()
        if rc != 0:
            R.fail("kilnd_a_stops_cleanly", f"exit {rc}: {a.log_text()[-2000:]}")

    # --- the sweep at start: expired workspace, old and young orphans ---------------
    b = None
    try:
        def sweep_at_start():
            jid, rec = state["j4"], state["m4"]
            c = J.sqlite3.connect(os.path.join(a.data, "kiln.db"))
            c.execute("UPDATE jobs SET finished_at = '2000-01-01T00:00:00.000Z' WHERE id = ?",
                      (jid,))
            c.commit()
            c.close()
            old = b"an orphan: bytes no record names " + os.urandom(8)
            young = b"a young orphan, maybe an upload being named " + os.urandom(8)
            paths = {}
            for name, data in (("old", old), ("young", young)):
                sha = hashlib.sha256(data).hexdigest()
                p = blob_path(a, sha)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(data)
                paths[name] = p
            two_hours_ago = time.time() - 7200
            os.utime(paths["old"], (two_hours_ago, two_hours_ago))
            named = blob_path(a, rec["sha256"])  # old, but a model names it
            os.utime(named, (two_hours_ago, two_hours_ago))
            nonlocal b
            b = J.Daemon(with_jobs("failed_workspace_hours = 1"), ENV, data_dir=a_dir)
            assert not os.path.exists(os.path.join(job_dir(b, jid), "work")), "not expired"
            assert os.path.isfile(os.path.join(job_dir(b, jid), "log.txt"))
            assert not os.path.exists(paths["old"]), "old orphan blob kept"
            assert os.path.exists(paths["young"]), "a young orphan must be spared"
            assert os.path.exists(named), "a named blob was removed"
            st, _, back = b.request("GET", f"/api/v1/models/{rec['id']}/file")
            assert st == 200 and hashlib.sha256(back).hexdigest() == rec["sha256"], st
            assert "retention sweep" in b.log_text(), b.log_text()[-1500:]
        R.check("sweep_at_start_removes_expired_workspaces_and_old_orphan_blobs",
                sweep_at_start)
    finally:
        if b is not None:
            rc = b.stop()
            if rc != 0:
                R.fail("kilnd_b_stops_cleanly", f"exit {rc}: {b.log_text()[-2000:]}")

    # --- failed_workspace_hours = 0: a failed job's workspace goes at once ----------
    d = None
    try:
        def zero_hours():
            nonlocal d
            d = J.Daemon(with_jobs("failed_workspace_hours = 0"), ENV, data_dir=a_dir)
            m, s = spec("maixcam")
            jid = run_job(d, dict(s, model=state["m4"]["id"], dataset=state["ds2"]["id"],
                                  target="maixcam", name="zero"), "failed")
            assert not os.path.exists(os.path.join(job_dir(d, jid), "work")), "kept"
            st, got = d.json("GET", f"/api/v1/jobs/{jid}")
            assert got["error"]["code"] == "below_tolerance", got  # the reason stays
            assert os.path.isfile(os.path.join(job_dir(d, jid), "log.txt"))
        R.check("zero_failed_workspace_hours_removes_a_failed_workspace_at_once", zero_hours)
    finally:
        if d is not None and d.stop() != 0:
            R.fail("kilnd_d_stops_cleanly", tail_log(a_dir))

    # --- 507 when the disk is nearly full ------------------------------------------------
    free = shutil.disk_usage(a_dir).free
    c = None
    try:
        def disk_full():
            nonlocal c
            need = free // (1 << 30) + 10  # GiB: more than there is
            c = J.Daemon(ini(f"[storage]\nmin_free = {need}G"), ENV, data_dir=a_dir)
            before = sorted(os.listdir(os.path.join(c.data, "blobs", "tmp")))
            st, _, body = c.request("POST", "/api/v1/models?name=full",
                                    J.onnx_bytes(F.classifier()), "application/octet-stream")
            r = json.loads(body)
            assert st == 507, (st, r)
            assert r["error"]["code"] == "insufficient_storage", r
            assert "min_free" in r["error"]["message"] and "free" in r["error"]["message"], r
            st, _, body = c.request("POST", "/api/v1/datasets?name=full",
                                    J.tar_of(J.photos()[:1]), "application/x-tar")
            assert st == 507, (st, body[:300])
            st, r = J.submit(c, dict(spec("maixcam")[1], model=state["m4"]["id"],
                                     dataset=state["ds2"]["id"], target="maixcam"))
            assert st == 507, (st, r)
            st, r = c.json("POST", f"/api/v1/jobs/{state['j4']}/retry")
            assert st == 507, (st, r)
            assert sorted(os.listdir(os.path.join(c.data, "blobs", "tmp"))) == before
            # reads and deletes still work: they are how space comes back
            st, _, _ = c.request("GET", "/healthz", token=None)
            assert st == 200
            st, lst = c.json("GET", "/api/v1/models")
            assert st == 200 and lst["items"], lst
            st, r = c.json("DELETE", f"/api/v1/models/{state['m4']['id']}")
            assert st == 204, (st, r)
        R.check("nearly_full_disk_refuses_uploads_and_jobs_with_507", disk_full)
    finally:
        if c is not None and c.stop() != 0:
            R.fail("kilnd_c_stops_cleanly", tail_log(a_dir))
        c = None
    try:
        def disk_full_percent():
            nonlocal c
            c = J.Daemon(ini("[storage]\nmin_free = 0\nmin_free_percent = 99"), ENV,
                         data_dir=a_dir)
            st, _, body = c.request("POST", "/api/v1/models?name=full",
                                    J.onnx_bytes(F.classifier()), "application/octet-stream")
            r = json.loads(body)
            assert st == 507 and "min_free_percent" in r["error"]["message"], (st, r)
        if shutil.disk_usage(a_dir).free * 100 >= shutil.disk_usage(a_dir).total * 99:
            R.skip("nearly_full_disk_by_percent_is_refused_too", "the disk is over 99% free")
        else:
            R.check("nearly_full_disk_by_percent_is_refused_too", disk_full_percent)
    finally:
        if c is not None and c.stop() != 0:
            R.fail("kilnd_c2_stops_cleanly", tail_log(a_dir))
    shutil.rmtree(tmp, ignore_errors=True)
    R.done()


if __name__ == "__main__":
    main()
