"""Deleting a model or a dataset while jobs on it are being submitted, over
real HTTP: a stress test of the race runtime/models.c, runtime/datasets.c
and runtime/jobs.c close (the delete's check for queued jobs and its
delete are one write transaction; a submit asks for its model and dataset
again in the transaction that queues its job).

Each round uploads a fresh model (and, in the dataset rounds, a fresh
dataset), then SUBMITTERS threads each POST a job on it while one thread
DELETEs the model (or the dataset), all released at once by a barrier.
Whatever the interleaving: every submit answers 202 or a refusal in words
(404/409), the DELETE answers 204 or a 409 naming a job, and every job
that was accepted succeeds: none fails at its first step because its model or set
vanished under it.  Which interleaving a round gets is up to the
scheduler: this test can pass on broken code, and the interleavings that
matter are laid out deterministically in tests/unit/test_delete_race.c.
Measured on the code before the fix (each side two statements), three
runs of these 16 + 8 rounds: every run failed, losing 2-12 jobs on models
and 3-6 on datasets; on the fix, ten runs lost none.

A real kilnd with every toolchain on the toolchain double (engine =
local); no sleeps: threads meet at a barrier, jobs are followed over SSE.
Run with Debian's /usr/bin/python3 (tests/run.sh does).
"""
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
import test_jobs_http as J  # noqa: E402  (Daemon, uploads, cases: one copy)

R = F.Report("test_delete_race_http")
SUBMITTERS = 4
MODEL_ROUNDS = int(os.environ.get("KILN_RACE_ROUNDS", "16"))
DATASET_ROUNDS = max(1, MODEL_ROUNDS // 2)
LEADS = 8
VANISHED = ("no model with id", "was deleted on", "no dataset with id")


def one_round(k, model, spec, what, lead):
    """One round: returns (record, dataset, delete's (status, body),
    [(submit status, body)]); what is "models" or "datasets".  The
    deleter first reads what it deletes lead times, so over the rounds its
    DELETE lands before, among and after the submits' reads and inserts
    (work, not a sleep, spreads it)."""
    rec = J.upload_model(k, "race", model)
    ds = J.upload_dataset(k) if what == "datasets" else one_round.ds
    body = dict(spec, model=rec["id"], dataset=ds["id"], target="maixcam2", cache=False)
    target = rec["id"] if what == "models" else ds["id"]
    gate = threading.Barrier(SUBMITTERS + 1)
    subs = [None] * SUBMITTERS
    dele = [None]

    def submitter(i):
        gate.wait()
        subs[i] = J.submit(k, body)

    def deleter():
        gate.wait()
        for _ in range(lead):
            k.json("GET", f"/api/v1/{what}/{target}")
        dele[0] = k.json("DELETE", f"/api/v1/{what}/{target}")

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(SUBMITTERS)]
    threads.append(threading.Thread(target=deleter))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rec, ds, dele[0], subs


def check_round(k, what, rec, ds, dele, subs, tally):
    st, r = dele
    assert st in (204, 409), (st, r)
    accepted = []
    for sst, sr in subs:
        if sst == 202:
            accepted.append(sr["id"])
        else:
            # refused in words because the delete came first
            assert sst in (404, 409), (sst, sr)
            assert any(v in sr["error"]["message"] for v in VANISHED), sr
    if st == 409:
        assert r["error"]["field"] == "id" and "job" in r["error"]["message"], r
        assert accepted, "a 409 naming a job no submit was told about"
    key = "model" if what == "models" else "dataset"
    gone = rec["id"] if what == "models" else ds["id"]
    if st == 409:
        # What it names is alive: the jobs need not run.  Cancelled, then
        # what the round made can go.
        for jid in accepted:
            cst, cr = k.json("POST", f"/api/v1/jobs/{jid}/cancel")
            assert cst in (200, 202), (cst, cr)
            J.final_state(k.events(jid))
        st2, r2 = k.json("DELETE", f"/api/v1/{what}/{gone}")
        assert st2 == 204, (st2, r2)
    else:
        # Deleted: a job accepted in this round must still have what it
        # builds from (it could only have been accepted first and have
        # finished before the delete's check), so it succeeds; one that
        # does not is counted, and the test fails after the rounds.
        for jid in accepted:
            state = J.final_state(k.events(jid))
            if state != "succeeded":
                _, job = k.json("GET", f"/api/v1/jobs/{jid}")
                msg = (job.get("error") or {}).get("message") or ""
                tally["lost"].append(f"job {jid} on {key} {gone} ended {state}: {msg}")
    tally[st] += 1
    tally["accepted"] += len(accepted)
    tally["mixed"] += 0 < len(accepted) < len(subs)


def main():
    k = J.Daemon(J.ini(workers=2))
    tally = {204: 0, 409: 0, "accepted": 0, "mixed": 0, "lost": []}
    try:
        m2, s2 = next((m, dict(s)) for t, m, s in J.cases() if t == "maixcam2")
        one_round.ds = J.upload_dataset(k)

        def rounds(what, n):
            def run():
                tally.update({204: 0, 409: 0, "accepted": 0, "mixed": 0, "lost": []})
                for i in range(n):
                    rec, ds, dele, subs = one_round(k, m2, s2, what, i % LEADS)
                    check_round(k, what, rec, ds, dele, subs, tally)
                print(f"# {what}: {tally[204]} deletes answered 204, {tally[409]} answered "
                      f"409; {tally['accepted']} jobs accepted ({tally['mixed']} rounds with "
                      f"some refused), {len(tally['lost'])} lost what they build from",
                      file=sys.stderr)
                assert not tally["lost"], tally["lost"]
            return run

        R.check("a_model_deleted_while_jobs_on_it_are_submitted_leaves_no_job_without_it",
                rounds("models", MODEL_ROUNDS))
        R.check("a_dataset_deleted_while_jobs_on_it_are_submitted_leaves_no_job_without_it",
                rounds("datasets", DATASET_ROUNDS))
    finally:
        k.stop()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
