"""Deleting a model that jobs used (issue 17) over real HTTP.

A model named by a job (any state) or by a model cut from it is kept as a
tombstone when deleted: DELETE answers 204, its file (blob) is released,
GET /models/{id} still answers with "deleted": true and "deleted_at", its
file, graph and cut answer 410, lists hide it unless ?deleted=include, a new
job or a retry naming it is a 409 in words, and the same bytes uploaded
again make a fresh record (not a resurrection).  A model no job names is
removed outright (404 after).  One used by a queued or running job is a 409
naming the job.  At restart, re-inspection (server/reinspect.c) skips a
tombstone, whose file is gone.

A real kilnd with every toolchain on the toolchain double (engine = local);
synchronisation by SSE events, never by sleeping.  Run with Debian's
/usr/bin/python3 (tests/run.sh does).
"""
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
import test_jobs_http as J  # noqa: E402  (Daemon, uploads, cases: one copy)

R = F.Report("test_model_tombstone_http")
# legacy pulsar's build hangs: an axera-pi job stays running.
ENV = {"KILN_DOUBLE_HANG": "pulsar:build", "KILN_DOUBLE_LOW_COSINE": "model_deploy:1"}


def spec(target):
    m, s = {t: (m, s) for t, m, s in J.cases()}[target]
    return m, dict(s)


def run_job(k, body, want):
    st, job = J.submit(k, body)
    assert st == 202, (st, job)
    got = J.final_state(k.events(job["id"]))
    assert got == want, (got, k.json("GET", f"/api/v1/jobs/{job['id']}")[1])
    return job["id"]


def blob_exists(k, sha):
    return os.path.exists(os.path.join(k.data, "blobs", "sha256", sha[:2], sha))


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-tombstone-")
    ini = J.ini(workers=1)
    k = J.Daemon(ini, ENV, data_dir=tmp)
    state = {}
    try:
        ds = J.upload_dataset(k)
        m2, s2 = spec("maixcam2")

        def tombstone():
            rec = J.upload_model(k, "m2", m2)
            mid = rec["id"]
            assert rec["deleted"] is False and rec["deleted_at"] is None, rec
            jid = run_job(k, dict(s2, model=mid, dataset=ds["id"], target="maixcam2"),
                          "succeeded")
            st, r = k.json("DELETE", f"/api/v1/models/{mid}")
            assert st == 204, (st, r)
            st, got = k.json("GET", f"/api/v1/models/{mid}")
            assert st == 200, (st, got)
            assert got["deleted"] is True and got["deleted_at"], got
            assert got["name"] == "m2" and got["sha256"] == rec["sha256"], got
            assert not blob_exists(k, rec["sha256"]), "the tombstone's blob stays"
            st, job = k.json("GET", f"/api/v1/jobs/{jid}")
            assert st == 200 and job["model"] == mid and job["state"] == "succeeded", job
            st, _, body = k.request("GET", f"/api/v1/bundles/{job['bundle']}/archive")
            assert st == 200 and body, st  # the bundle is the job's own
            for path, method, body in ((f"/api/v1/models/{mid}/file", "GET", None),
                                       (f"/api/v1/models/{mid}/graph", "GET", None),
                                       (f"/api/v1/models/{mid}/cut", "POST",
                                        {"outputs": ["x"]}),
                                       (f"/api/v1/models/{mid}", "DELETE", None)):
                st, r = k.json(method, path, body)
                assert st == 410, (path, st, r)
                assert r["error"]["field"] == "id" and "deleted on" in r["error"]["message"], r
            st, lst = k.json("GET", "/api/v1/models")
            assert mid not in [m["id"] for m in lst["items"]], lst
            st, lst = k.json("GET", "/api/v1/models?deleted=include")
            dead = [m for m in lst["items"] if m["id"] == mid]
            assert dead and dead[0]["deleted"] is True, lst
            st, r = k.json("GET", "/api/v1/models?deleted=yes")
            assert st == 400 and r["error"]["field"] == "deleted", (st, r)
            st, r = J.submit(k, dict(s2, model=mid, dataset=ds["id"], target="maixcam2"))
            assert st == 409 and r["error"]["field"] == "model", (st, r)
            assert "deleted on" in r["error"]["message"] and "upload" in r["error"]["message"], r
            state["mid"], state["rec"], state["jid"] = mid, rec, jid
        R.check("a_model_jobs_used_stays_as_a_tombstone_without_its_file", tombstone)

        def fresh_upload():
            rec = J.upload_model(k, "m2", m2)  # the same name and bytes
            assert rec["id"] != state["mid"] and rec["deleted"] is False, rec
            assert blob_exists(k, rec["sha256"])
            st, got = k.json("GET", f"/api/v1/models/{state['mid']}")
            assert got["deleted"] is True, got  # the tombstone stays one
            st, _, data = k.request("GET", f"/api/v1/models/{rec['id']}/file")
            assert st == 200 and data == J.onnx_bytes(m2), st
            again = J.upload_model(k, "m2", m2)  # dedup: the live record
            assert again["id"] == rec["id"], again
            run_job(k, dict(s2, model=rec["id"], dataset=ds["id"], target="maixcam2"),
                    "succeeded")
        R.check("the_same_bytes_uploaded_again_make_a_fresh_record", fresh_upload)

        def retry_refused():
            m1, s1 = spec("maixcam")
            rec = J.upload_model(k, "m1", m1)
            jid = run_job(k, dict(s1, model=rec["id"], dataset=ds["id"], target="maixcam"),
                          "failed")  # the double's low similarity
            st, r = k.json("DELETE", f"/api/v1/models/{rec['id']}")
            assert st == 204, (st, r)
            st, r = k.json("POST", f"/api/v1/jobs/{jid}/retry")
            assert st == 409 and "deleted on" in r["error"]["message"], (st, r)
            st, job = k.json("GET", f"/api/v1/jobs/{jid}")
            assert job["state"] == "failed", job
        R.check("a_retry_of_a_job_whose_model_was_deleted_is_refused_in_words",
                retry_refused)

        def unused_goes():
            rec = J.upload_model(k, "lonely", F.classifier())
            st, r = k.json("DELETE", f"/api/v1/models/{rec['id']}")
            assert st == 204, (st, r)
            st, r = k.json("GET", f"/api/v1/models/{rec['id']}")
            assert st == 404, (st, r)
        R.check("a_model_no_job_names_is_removed_outright", unused_goes)

        def cut_parent_kept():
            v8 = J.upload_model(k, "v8", F.yolov8())
            outs = v8["suggested_outputs"][0]["tensors"]
            st, cut = k.json("POST", f"/api/v1/models/{v8['id']}/cut",
                             {"outputs": outs, "name": "v8-cut"})
            assert st == 201, (st, cut)
            st, r = k.json("DELETE", f"/api/v1/models/{v8['id']}")
            assert st == 204, (st, r)
            st, got = k.json("GET", f"/api/v1/models/{cut['id']}")
            assert got["parent"] == v8["id"] and got["deleted"] is False, got
            st, par = k.json("GET", f"/api/v1/models/{v8['id']}")
            assert st == 200 and par["deleted"] is True, (st, par)
            st, _, data = k.request("GET", f"/api/v1/models/{cut['id']}/file")
            assert st == 200 and data, st
        R.check("a_cut_keeps_its_deleted_parent_as_a_tombstone", cut_parent_kept)

        def running_refused():
            ma, sa = spec("axera-pi")
            rec = J.upload_model(k, "hang", ma)
            st, job = J.submit(k, dict(sa, model=rec["id"], dataset=ds["id"],
                                       target="axera-pi"))
            assert st == 202, (st, job)
            k.events(job["id"], stop=lambda e: e["event"] == "step" and
                     "build" in e["data"]["name"])
            st, r = k.json("DELETE", f"/api/v1/models/{rec['id']}")
            assert st == 409 and r["error"]["field"] == "id", (st, r)
            assert f"job {job['id']}" in r["error"]["message"], r
            st, got = k.json("GET", f"/api/v1/models/{rec['id']}")
            assert got["deleted"] is False and blob_exists(k, rec["sha256"]), got
            st, r = k.json("POST", f"/api/v1/jobs/{job['id']}/cancel")
            assert st in (200, 202), (st, r)
            J.final_state(k.events(job["id"]))
        R.check("a_model_a_running_job_uses_is_refused_with_409_naming_the_job",
                running_refused)

        def restart_skips_tombstone():
            nonlocal k
            assert k.stop() == 0
            c = sqlite3.connect(os.path.join(k.data, "kiln.db"), timeout=30)
            # as if an older kilnd inspected it: re-inspection would want
            # its file, which is gone
            c.execute("UPDATE models SET inspection = json_remove(inspection,"
                      " '$.inspection_version') WHERE id = ?", (state["mid"],))
            c.commit()
            c.close()
            k = J.Daemon(ini, ENV, data_dir=tmp)
            assert "keeps its old inspection" not in k.log_text(), k.log_text()[-2000:]
            st, got = k.json("GET", f"/api/v1/models/{state['mid']}")
            assert st == 200 and got["deleted"] is True, got
        R.check("restart_does_not_reinspect_a_tombstone", restart_skips_tombstone)
    finally:
        if k is not None:
            k.stop()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
