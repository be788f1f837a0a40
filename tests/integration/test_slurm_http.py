"""The slurm engine against a real one-node Slurm 22.05 cluster (issue 18).

tests/lib/slurm_cluster.py starts munged, slurmctld and slurmd on
127.0.0.1 (2 CPUs, so Slurm runs two steps at a time); kilnd gets
SLURM_CONF in its environment and every toolchain as

    engine = slurm, node_engine = local, path = <a bin dir of the double>

The bin dir links every toolchain-double program, except that `pulsar
build` and `model_transform` first wait at a gate: a FIFO named after the
job id ($KILN_JOB_ID, which the batch script exports) when the test made
one.  Opening the FIFO for writing releases it — synchronisation by the
kernel, never by sleeping.  With a file <gate>.hog beside it, the gated
program first fills 600 MB of memory (the tpu-mlir toolchain has mem =
300M).  Covered: a job through Slurm to a bundle, 20 jobs at once, cancel
(scancel), a Slurm job cancelled behind kilnd's back, sbatch refusing a step
(memory no node has) and a partition Slurm does not have (at kilnd's start,
by the storage probe), a step over the partition's MaxTime, Slurm's own time
limit (TIMEOUT, --time=1: the one check that waits for a clock, about 60-90
s, run beside the others), the node going down under a step (NODE_FAIL),
preemption by a higher partition (PREEMPTED), running out of memory, kill -9
of kilnd mid-step with a restart that re-attaches to the same Slurm job, and
a Slurm job that vanished while kilnd was down.  A lost step (NODE_FAIL,
PREEMPTED, vanished) runs again as the next attempt, up to [jobs]
max_attempts (2).
Run with Debian's /usr/bin/python3 (tests/run.sh does).
"""
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
sys.path.insert(0, HERE)
import onnx_fixtures as F  # noqa: E402
from slurm_cluster import SlurmCluster, NODE, PARTITION, SHORT, URGENT  # noqa: E402
import test_jobs_http as J  # noqa: E402

R = F.Report("test_slurm_http")
# KILN_SLURM_ONLY=word,word runs only the checks whose names hold a word
ONLY = [w for w in os.environ.get("KILN_SLURM_ONLY", "").split(",") if w]


def check(name, fn):
    if not ONLY or any(w in name for w in ONLY):
        R.check(name, fn)
TOOLCHAINS = ("tpu-mlir", "pulsar2", "pulsar", "voyager")


def note(msg):
    print("# " + msg, flush=True)


# program -> the first argument that is gated ("" = any); tpu-mlir's first
# step is model_transform.py in the recipe (conversion/recipe_maixcam.c)
GATED = {"pulsar": "build", "model_transform": "", "model_transform.py": ""}
HOG = 600 * 1000 * 1000


def make_bin(top):
    """The double's programs, `pulsar build` and `model_transform` behind a gate."""
    bindir = os.path.join(top, "bin")
    gates = os.path.join(top, "gates")
    os.makedirs(bindir)
    os.makedirs(gates)
    for n in os.listdir(J.DOUBLE):
        if n not in GATED:
            os.symlink(os.path.join(J.DOUBLE, n), os.path.join(bindir, n))
    for n, first in GATED.items():
        with open(os.path.join(bindir, n), "w") as f:
            f.write(f"""#!/bin/sh
g='{gates}'/"$KILN_JOB_ID"
if [ -p "$g" ] && {{ [ -z '{first}' ] || [ "$1" = '{first}' ]; }}; then
    if [ -e "$g.hog" ]; then
        echo "kiln-test: holding {HOG} bytes"
        exec /usr/bin/python3 -c 'import sys; x = b"x" * {HOG}; open(sys.argv[1]).read()' "$g"
    fi
    echo "kiln-test: waiting at gate $g"
    read x < "$g"
    echo "kiln-test: gate opened"
fi
exec '{J.DOUBLE}/{n}' "$@"
""")
        os.chmod(os.path.join(bindir, n), 0o755)
    return bindir, gates


def ini(bindir, overrides=None, workers=8):
    lines = ["[jobs]", f"workers = {workers}", ""]
    for tc in TOOLCHAINS:
        lines.append(f"[toolchain.{tc}]")
        lines += ["engine = slurm", "node_engine = local", f"path = {bindir}"]
        lines += (overrides or {}).get(tc, [f"partition = {PARTITION}"])
        lines.append("")
    return "\n".join(lines)


def slurm_jobs(cluster):
    """{slurm id: (name, state)} of every job slurmctld still knows."""
    r = cluster.run("squeue", "-h", "-t", "all", "-o", "%i %j %T")
    out = {}
    for line in r.stdout.splitlines():
        i, name, state = line.split()
        out[int(i)] = (name, state)
    return out


def slurm_jobs_done(cluster, timeout=30):
    """slurm_jobs() once no job is COMPLETING: kilnd may finish a step on its
    exit status while Slurm still ends the job on the node (KillWait)."""
    until = time.monotonic() + timeout
    while True:
        known = slurm_jobs(cluster)
        if all(st != "COMPLETING" for _, st in known.values()) or time.monotonic() > until:
            return known
        time.sleep(0.1)  # polling Slurm's state, with a deadline


def main():
    t_all = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="kiln-slurm-test-")
    cluster = None
    k = None
    try:
        t0 = time.monotonic()
        cluster = SlurmCluster(cpus=2)
        note(f"cluster up in {time.monotonic() - t0:.1f} s")
        bindir, gates = make_bin(tmp)
        env = {"SLURM_CONF": cluster.conf}
        kdir = os.path.join(tmp, "k")
        os.makedirs(kdir)
        text = ini(bindir, {"pulsar2": [f"partition = {PARTITION}", "mem = 64G"],
                           "voyager": [f"partition = {SHORT}", "time = 5"],
                           "tpu-mlir": [f"partition = {PARTITION}", "time = 1",
                                        "mem = 300M"]})
        t0 = time.monotonic()
        k = J.Daemon(text, env, data_dir=kdir)
        note(f"kilnd with the storage probe up in {time.monotonic() - t0:.1f} s")

        def probe_logged():
            assert "shared with the Slurm nodes" in k.log_text(), k.log_text()[-1500:]
        check("start_checks_the_data_dir_is_shared_through_a_probe_job", probe_logged)

        ds = J.upload_dataset(k)
        specs = {t: (m, s) for t, m, s in J.cases()}
        models = {}

        def spec_for(target, **kw):
            m, s = specs[target]
            if target not in models:
                models[target] = J.upload_model(k, target.replace("-", "_"), m)["id"]
            return dict(s, model=models[target], dataset=ds["id"], target=target, **kw)

        def next_id():
            st, r = k.json("GET", "/api/v1/jobs?limit=1")
            assert st == 200, r
            return (r["items"][0]["id"] if r["items"] else 0) + 1

        def gate_for(job_id):
            p = os.path.join(gates, str(job_id))
            os.mkfifo(p)
            return p

        def open_gate(p):
            with open(p, "w") as f:  # blocks until the tool reads: it is there
                f.write("go\n")

        def wait_gate(job_id):
            k.events(job_id, stop=lambda e: e["event"] == "log" and
                     "waiting at gate" in e["data"]["line"])

        def wait_gate_after(job_id, last_id):
            return k.events(job_id, last_id=last_id,
                            stop=lambda e: e["event"] == "log" and
                            "waiting at gate" in e["data"]["line"])

        def one_job():
            t0 = time.monotonic()
            st, job = J.submit(k, spec_for("axera-pi", name="viaslurm"))
            assert st == 202, job
            evs = k.events(job["id"])
            assert J.final_state(evs) == "succeeded", (
                evs[-3:], k.json("GET", f"/api/v1/jobs/{job['id']}")[1].get("error"))
            slurm_ev = [e["data"] for e in evs if e["event"] == "slurm"]
            assert slurm_ev, {e["event"] for e in evs}
            assert any(e["event"] == "log" for e in evs)
            st, got = k.json("GET", f"/api/v1/jobs/{job['id']}")
            assert got["bundle"] and got["slurm_job"] == slurm_ev[-1]["slurm_job"], got
            J.check_bundle(k, got)
            # where each step ran, for the dashboard: one entry per Slurm job
            placed = [e for e in slurm_ev if "node" in e]
            assert [(p["attempt"], p["step"], p["slurm_job"], p["node"])
                    for p in got["slurm_steps"]] == \
                [(1, e["step"], e["slurm_job"], NODE) for e in placed] and placed, \
                (got["slurm_steps"], slurm_ev)
            known = slurm_jobs_done(cluster)
            for e in slurm_ev:
                name, state = known[e["slurm_job"]]
                assert name == f"kiln-{job['id']}-{e['step']}" and state == "COMPLETED", \
                    (e, known[e["slurm_job"]])
            where = [(p["step"], p["slurm_job"], p["node"]) for p in got["slurm_steps"]]
            note(f"one axera-pi job, {len(where)} Slurm jobs (step, id, node) {where}, "
                 f"{time.monotonic() - t0:.1f} s")
        check("a_job_runs_its_steps_as_slurm_jobs_to_a_bundle", one_job)

        def several():
            t0 = time.monotonic()
            ids = []
            for i in range(20):
                st, job = J.submit(k, spec_for("axera-pi", name=f"many{i}"))
                assert st == 202, job
                ids.append(job["id"])
            results = {}

            def watch(i):
                results[i] = J.final_state(k.events(i))

            ts = [threading.Thread(target=watch, args=(i,)) for i in ids]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert all(results[i] == "succeeded" for i in ids), results
            bundles = set()
            for i in ids:
                st, got = k.json("GET", f"/api/v1/jobs/{i}")
                J.check_bundle(k, got)
                bundles.add(got["bundle"])
            assert len(bundles) == len(ids), bundles
            # every step of each went through Slurm, under its own name
            known = slurm_jobs_done(cluster)
            for i in ids:
                names = [n for n, st in known.values() if n.startswith(f"kiln-{i}-")]
                assert len(names) == 2 and all(
                    st == "COMPLETED" for n, st in known.values() if n in names), (i, names)
            note(f"{len(ids)} jobs at once through a 2-CPU cluster: "
                   f"{time.monotonic() - t0:.1f} s")
        check("twenty_jobs_at_once_all_finish_through_the_cluster_with_their_bundles", several)

        # Slurm's own time limit can only be reached by waiting for it
        # (--time=1 is Slurm's least): this job waits at its gate, watched in
        # a thread, while the checks below run beside it.  It starts after
        # the 20 jobs, so those have both CPUs.
        over = {"t0": time.monotonic()}
        over_id = None
        over_gate = None
        over_wanted = not ONLY or any(w in "slurm_time_limit" for w in ONLY)

        def watch_over():
            try:
                over["events"] = k.events(over_id, timeout=300)
                over["s"] = time.monotonic() - over["t0"]
            except BaseException as e:  # reported by the check below
                over["exc"] = e

        over_thread = threading.Thread(target=watch_over)
        if over_wanted:
            over["t0"] = time.monotonic()
            over_id = next_id()
            over_gate = gate_for(over_id)
            st, job = J.submit(k, spec_for("maixcam", name="overtime"))
            assert st == 202 and job["id"] == over_id, job
            over_thread.start()

        def cancel():
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name="cancelme"))
            assert st == 202 and job["id"] == jid, job
            wait_gate(jid)
            sid = k.json("GET", f"/api/v1/jobs/{jid}")[1]["slurm_job"]
            assert slurm_jobs(cluster)[sid][1] == "RUNNING"
            t0 = time.monotonic()
            st, r = k.json("POST", f"/api/v1/jobs/{jid}/cancel")
            assert st == 202, (st, r)
            assert J.final_state(k.events(jid)) == "cancelled"
            state = slurm_jobs(cluster)[sid][1]
            assert state == "CANCELLED", state
            os.unlink(g)
            note(f"cancel -> cancelled in {time.monotonic() - t0:.1f} s (Slurm job {sid} "
                   f"{state})")
        check("cancel_is_scancel_and_the_job_ends_cancelled", cancel)

        def behind_back():
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name="scancelled"))
            assert st == 202 and job["id"] == jid, job
            wait_gate(jid)
            sid = k.json("GET", f"/api/v1/jobs/{jid}")[1]["slurm_job"]
            cluster.run("scancel", str(sid))
            assert J.final_state(k.events(jid)) == "failed"
            err = k.json("GET", f"/api/v1/jobs/{jid}")[1]["error"]
            assert err["code"] == "step_failed" and "cancelled outside kilnd" in err["message"] \
                and str(sid) in err["message"], err
            os.unlink(g)
        check("a_slurm_job_cancelled_behind_kilnds_back_fails_the_job_in_words", behind_back)

        def refused():
            st, job = J.submit(k, spec_for("maixcam2", name="refused"))
            assert st == 202, job
            assert J.final_state(k.events(job["id"])) == "failed"
            err = k.json("GET", f"/api/v1/jobs/{job['id']}")[1]["error"]
            assert err["code"] == "spawn_failed" and "sbatch refused" in err["message"] \
                and "mem" in err["message"], err
        check("sbatch_refusing_a_step_fails_the_job_naming_the_setting", refused)

        def out_of_memory():
            jid = next_id()
            g = gate_for(jid)
            open(g + ".hog", "w").close()
            st, job = J.submit(k, spec_for("maixcam", name="hog"))
            assert st == 202 and job["id"] == jid, job
            assert J.final_state(k.events(jid)) == "failed"
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            err, sid = got["error"], got["slurm_job"]
            assert "ran out of memory" in err["message"] and str(sid) in err["message"] \
                and "raise [toolchain.tpu-mlir] mem" in err["message"], err
            assert got["attempt"] == 1, got  # the step's own doing: not run again
            state = slurm_jobs(cluster)[sid][1]
            assert state == cluster.oom_state, (state, cluster.oom_state)
            os.unlink(g + ".hog")
            os.unlink(g)
            note(f"out of memory: Slurm job {sid} {state} "
                 f"({'task/cgroup' if cluster.cgroup else 'jobacct_gather OverMemoryKill'}): "
                 f"{err['message']}")
        check("a_step_over_its_memory_fails_naming_the_mem_setting", out_of_memory)

        def time_limit():
            over_thread.join()
            if "exc" in over:
                raise over["exc"]
            assert J.final_state(over["events"]) == "failed", over["events"][-3:]
            got = k.json("GET", f"/api/v1/jobs/{over_id}")[1]
            err, sid = got["error"], got["slurm_job"]
            assert err["code"] == "timeout" and "TIMEOUT" in err["message"] \
                and "--time=1" in err["message"] \
                and "raise [toolchain.tpu-mlir] time" in err["message"], err
            assert slurm_jobs(cluster)[sid][1] == "TIMEOUT", slurm_jobs(cluster)[sid]
            os.unlink(over_gate)
            note(f"Slurm's time limit (--time=1) ended Slurm job {sid} TIMEOUT "
                 f"{over['s']:.0f} s after submit: {err['message']}")
        check("a_step_over_its_slurm_time_limit_fails_as_timeout_naming_the_setting",
                time_limit)

        def lost_then_retried(name, provoke, state):
            """A gated step the cluster loses: the attempt fails in words and
            the job runs again as attempt 2, which the test lets finish."""
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name=name))
            assert st == 202 and job["id"] == jid, job
            wait_gate(jid)
            sid = k.json("GET", f"/api/v1/jobs/{jid}")[1]["slurm_job"]
            t0 = time.monotonic()
            provoke()
            evs = k.events(jid, stop=lambda e: e["event"] == "state" and (
                e["data"]["attempt"] > 1 or e["data"]["state"] not in ("queued", "running")))
            q = evs[-1]["data"]
            assert q["state"] == "queued" and q["attempt"] == 2, (q, evs[-1])
            msg = q["error"]["message"]
            assert f"({state})" in msg and str(sid) in msg and NODE in msg, msg
            assert slurm_jobs(cluster)[sid][1] == state, slurm_jobs(cluster)[sid]
            return jid, g, sid, msg, evs[-1]["id"], time.monotonic() - t0

        def finish_second_attempt(jid, g, sid, msg, last_id):
            wait_gate_after(jid, last_id)
            open_gate(g)
            assert J.final_state(k.events(jid)) == "succeeded", \
                k.json("GET", f"/api/v1/jobs/{jid}")[1]
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            assert got["attempt"] == 2 and got["bundle"] and got["error"] is None, got
            J.check_bundle(k, got)
            builds = [p for p in got["slurm_steps"] if p["step"] == "build"]
            assert [(p["attempt"], p["slurm_job"] == sid, p["node"]) for p in builds] == \
                [(1, True, NODE), (2, False, NODE)], got["slurm_steps"]
            with open(os.path.join(k.data, "jobs", str(jid), "log.1.txt")) as f:
                assert msg[:60] in f.read()
            os.unlink(g)
            return builds[1]["slurm_job"]

        def node_fail():
            def down():
                cluster.run("scontrol", "update", f"nodename={NODE}", "state=down",
                            "reason=kiln-test")
            jid, g, sid, msg, last, dt = lost_then_retried("nodefail", down, "NODE_FAIL")
            # ReturnToService=2 may have taken it back already: then scontrol
            # says the state is invalid, which is fine
            cluster.run("scontrol", "update", f"nodename={NODE}", "state=resume", check=False)
            again = finish_second_attempt(jid, g, sid, msg, last)
            note(f"node down under Slurm job {sid}: NODE_FAIL in {dt:.1f} s, attempt 2 "
                 f"ran as Slurm job {again}: {msg}")
        check("the_node_failing_under_a_step_fails_the_attempt_in_words_and_retries_it",
                node_fail)

        def preempted():
            urgent = {}

            def preempt():
                # both CPUs in the higher-tier partition: the step must go
                r = cluster.run("sbatch", "--parsable", f"--partition={URGENT}",
                                "--cpus-per-task=2", "--mem=100M", "--output=/dev/null",
                                "--wrap=true")
                urgent["id"] = int(r.stdout.strip().split(";")[0])
            jid, g, sid, msg, last, dt = lost_then_retried("preempted", preempt, "PREEMPTED")
            again = finish_second_attempt(jid, g, sid, msg, last)
            assert slurm_jobs(cluster)[urgent["id"]][1] == "COMPLETED"
            note(f"Slurm job {sid} preempted by {urgent['id']} ({URGENT}, PriorityTier=2) "
                 f"in {dt:.1f} s, attempt 2 ran as Slurm job {again}: {msg}")
        check("preemption_fails_the_attempt_in_words_and_retries_it", preempted)

        def bad_partition():
            # Caught before any job: the storage probe at start is an sbatch
            # with the toolchain's partition, and kilnd refuses to start.
            d2 = os.path.join(tmp, "badpart")
            os.makedirs(d2)
            try:
                k2 = J.Daemon(ini(bindir, {"pulsar": ["partition = nosuch"]}), env, data_dir=d2)
            except RuntimeError as e:
                said = str(e)
            else:
                k2.stop()
                raise AssertionError("kilnd started with a partition Slurm does not have")
            assert "[toolchain.pulsar] engine = slurm: sbatch refused the storage probe" in said \
                and "Invalid partition name specified" in said \
                and "set [toolchain.pulsar] partition to one that `sinfo` lists" in said, \
                said[-1500:]
        check("a_partition_slurm_does_not_have_is_refused_at_start_in_words", bad_partition)

        def over_maxtime():
            t0 = time.monotonic()
            st, job = J.submit(k, spec_for("metis", name="toolong"))
            assert st == 202, job
            assert J.final_state(k.events(job["id"])) == "failed"
            got = k.json("GET", f"/api/v1/jobs/{job['id']}")[1]
            err = got["error"]
            assert "PartitionTimeLimit" in err["message"] and "time" in err["message"], err
            sid = got["slurm_job"]
            assert slurm_jobs(cluster)[sid][1] == "CANCELLED", slurm_jobs(cluster)[sid]
            note(f"a step over MaxTime failed in {time.monotonic() - t0:.1f} s: {err['message']}")
        check("a_step_over_the_partitions_maxtime_fails_instead_of_pending_for_ever",
                over_maxtime)

        def reattach():
            nonlocal k
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name="crashme"))
            assert st == 202 and job["id"] == jid, job
            wait_gate(jid)
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            sid, step = got["slurm_job"], got["step"]
            before = slurm_jobs(cluster)
            assert before[sid] == (f"kiln-{jid}-{step}", "RUNNING"), before[sid]
            squeue = ["squeue", "-h", "-t", "all", "-n", f"kiln-{jid}-{step}",
                      "-o", "%i %j %T %N"]
            sq_before = cluster.run(*squeue).stdout.strip()
            k.kill9()
            k = J.Daemon(text, env, data_dir=kdir)
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            assert got["attempt"] == 1 and got["state"] in ("queued", "running"), got
            open_gate(g)
            assert J.final_state(k.events(jid)) == "succeeded", \
                k.json("GET", f"/api/v1/jobs/{jid}")[1]
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            assert got["attempt"] == 1 and got["bundle"], got
            J.check_bundle(k, got)
            after = slurm_jobs(cluster)
            same = sorted(i for i, (n, _) in after.items() if n == f"kiln-{jid}-{step}")
            assert same == [sid], (same, sid)
            with open(os.path.join(k.data, "jobs", str(jid), "log.txt")) as f:
                log = f.read()
            assert "following Slurm job %d again" % sid in log, log[-2000:]
            assert log.count("waiting at gate") == 1, log
            os.unlink(g)
            note(f"kill -9 mid-step: Slurm job {sid} ({after[sid][0]}) RUNNING before, "
                 f"{after[sid][1]} after, the only one named so: {same}; squeue before "
                 f"the kill: [{sq_before}], after the restart's finish: "
                 f"[{cluster.run(*squeue).stdout.strip()}]")
        check("kill_9_mid_step_then_restart_reattaches_to_the_same_slurm_job", reattach)

        def crash_before_row_write():
            nonlocal k
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name="unrecorded"))
            assert st == 202 and job["id"] == jid, job
            wait_gate(jid)
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            sid, step = got["slurm_job"], got["step"]
            k.kill9()
            # As if kilnd died between sbatch's answer and writing the id:
            # the restart must find the Slurm job by its name, not rerun.
            c = J.sqlite3.connect(os.path.join(k.data, "kiln.db"), timeout=30)
            c.execute("UPDATE jobs SET slurm_job = NULL WHERE id = ?", (jid,))
            c.commit()
            c.close()
            k = J.Daemon(text, env, data_dir=kdir)
            open_gate(g)
            assert J.final_state(k.events(jid)) == "succeeded", \
                k.json("GET", f"/api/v1/jobs/{jid}")[1]
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            assert got["attempt"] == 1 and got["bundle"], got
            same = sorted(i for i, (n, _) in slurm_jobs(cluster).items()
                          if n == f"kiln-{jid}-{step}")
            assert same == [sid], (same, sid)
            assert "found_by_name=1" in k.log_text(), k.log_text()[-1500:]
            os.unlink(g)
        check("a_crash_before_the_slurm_id_was_written_finds_the_job_by_name",
                crash_before_row_write)

        def orderly_stop():
            nonlocal k
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name="stopme"))
            assert st == 202 and job["id"] == jid, job
            wait_gate(jid)
            sid = k.json("GET", f"/api/v1/jobs/{jid}")[1]["slurm_job"]
            rc = k.stop()  # SIGTERM: an upgrade or restart of kilnd
            assert rc == 0, rc
            assert slurm_jobs(cluster)[sid][1] == "RUNNING", slurm_jobs(cluster)[sid]
            k = J.Daemon(text, env, data_dir=kdir)
            open_gate(g)
            assert J.final_state(k.events(jid)) == "succeeded", \
                k.json("GET", f"/api/v1/jobs/{jid}")[1]
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            assert got["attempt"] == 1 and got["bundle"], got
            step = f"kiln-{jid}-build"
            same = sorted(i for i, (n, _) in slurm_jobs(cluster).items() if n == step)
            assert same == [sid], (same, sid)
            os.unlink(g)
            note(f"SIGTERM mid-step: Slurm job {sid} kept running, followed again, "
                 f"the only one named {step}: {same}")
        check("sigterm_mid_step_leaves_the_slurm_job_running_and_the_next_kilnd_follows_it",
                orderly_stop)

        def vanished():
            nonlocal k
            jid = next_id()
            g = gate_for(jid)
            st, job = J.submit(k, spec_for("axera-pi", name="vanishes"))
            assert st == 202 and job["id"] == jid, job
            seen = []
            last = None
            for attempt in (1, 2):
                wait_gate_after(jid, last)
                sid = k.json("GET", f"/api/v1/jobs/{jid}")[1]["slurm_job"]
                k.kill9()
                # While kilnd is down the row comes to name a Slurm job
                # slurmctld never had (as after slurmctld lost its state):
                # the real cluster answers "Invalid job id" for it.  The
                # real one is scancel'd so nothing else reads the gate, and
                # once it has ended, the exit status its shell wrote (143)
                # goes too: a vanished job left none.
                cluster.run("scancel", str(sid))
                until = time.monotonic() + 30
                while slurm_jobs(cluster)[sid][1] != "CANCELLED":
                    assert time.monotonic() < until, slurm_jobs(cluster)[sid]
                    time.sleep(0.1)  # polling Slurm's state, with a deadline
                try:
                    os.unlink(os.path.join(k.data, "jobs", str(jid), "work", "build.exit"))
                except FileNotFoundError:
                    pass
                gone = sid + 100000
                seen.append(gone)
                c = J.sqlite3.connect(os.path.join(k.data, "kiln.db"), timeout=30)
                c.execute("UPDATE jobs SET slurm_job = ? WHERE id = ?", (gone, jid))
                c.commit()
                c.close()
                k = J.Daemon(text, env, data_dir=kdir)
                evs = k.events(jid, stop=lambda e: e["event"] == "state" and
                               e["data"]["state"] not in ("running",) and
                               e["data"].get("error"))
                d = evs[-1]["data"]
                assert str(gone) in d["error"]["message"] and \
                    "not known to Slurm" in d["error"]["message"], d
                last = evs[-1]["id"]
                if attempt == 1:  # the cluster lost it: the next attempt runs
                    assert d["state"] == "queued" and d["attempt"] == 2, d
            # attempts used up ([jobs] max_attempts = 2): failed, in words
            got = k.json("GET", f"/api/v1/jobs/{jid}")[1]
            assert got["state"] == "failed" and got["attempt"] == 2, got
            assert str(seen[1]) in got["error"]["message"], got["error"]
            os.unlink(g)
            note(f"vanished Slurm jobs {seen}: attempt 1 retried, attempt 2 failed: "
                 f"{got['error']['message']}")
        check("a_slurm_job_that_vanished_is_retried_per_attempts_then_fails_in_words",
                vanished)
    finally:
        if k is not None:
            rc = k.stop()
            if rc != 0:
                R.fail("kilnd_stops_cleanly", f"exit {rc}: {k.log_text()[-2000:]}")
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    note(f"whole file {time.monotonic() - t_all:.1f} s")
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
