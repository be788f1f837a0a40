"""Progress inside a step, over real HTTP: kilnd on the toolchain double
(which prints the vendors' own progress bars, see tests/toolchain-double/
SOURCES.md "Progress inside a step"), a MaixCAM2 job (pulsar2 build: its
calibration and compile bars) and a MaixCAM job (TPU-MLIR run_calibration's
tqdm counters).  The job's /events must carry progress values strictly
inside the step that prints the bars, rising, before the step's end: the
job no longer sits at one value for a whole build.  Synchronisation is by
SSE, never by sleeping.  Run with Debian's /usr/bin/python3.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_jobs_http as J  # noqa: E402

R = J.F.Report("test_progress_http")


def progress_inside(evs, step):
    """The progress values published while `step` ran (after its step
    event, before the next step or state event)."""
    inside, on = [], False
    for e in evs:
        if e["event"] == "step":
            on = e["data"].get("name") == step or e["data"].get("step") == step
            continue
        if e["event"] in ("state", "job") and on:
            break
        if on and e["event"] == "progress":
            inside.append(e["data"]["progress"])
    return inside


def main():
    a = J.Daemon(J.ini())
    try:
        ds = J.upload_dataset(a)
        cases = {t: (m, s) for t, m, s in J.cases()}

        def case(target, step):
            def run():
                model, spec = cases[target]
                m = J.upload_model(a, target.replace("-", "_") + "_p", model)
                st, job = J.submit(a, dict(spec, model=m["id"], dataset=ds["id"], target=target))
                assert st == 202, (st, job)
                evs = a.events(job["id"])
                assert J.final_state(evs) == "succeeded", [e for e in evs if e["event"] in ("state", "job")][-2:]
                steps = [e["data"] for e in evs if e["event"] == "step"]
                names = [s.get("name") or s.get("step") for s in steps]
                assert step in names, names
                inside = progress_inside(evs, step)
                # 3 images: 1/3, 2/3, 3/3 at least, and the compile bars for pulsar2
                assert len(inside) >= 3, (step, inside, names)
                assert inside == sorted(inside) and len(set(inside)) == len(inside), inside
                allp = [e["data"]["progress"] for e in evs if e["event"] == "progress"]
                assert allp == sorted(allp), allp
                assert 0 < inside[0] < inside[-1] < 1, inside
            return run

        R.check("maixcam2_build_progress_moves_with_pulsar2_bars", case("maixcam2", "build_npu"))
        R.check("maixcam_calibrate_progress_moves_with_run_calibration_counters", case("maixcam", "calibrate"))
    finally:
        a.stop()
    R.done()


if __name__ == "__main__":
    main()
