"""deploy/kiln-convert.sh end to end, the way a CI job runs it: one call
uploads a model and a folder of real photos, converts for two boards in one
request, follows the events and downloads both bundles; then the ways it
must say no: a board that does not exist, a calibration folder with no
image, no token, and a job that fails (its error and log tail printed, exit
1).

kilnd is real (tests/lib/kiln_server.py) with every toolchain on the double
(engine = local: the vendor images cannot exist here).  The script runs
under dash, Debian's /bin/sh, so a bashism fails here.
"""
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))

import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402

R = F.Report("test_kiln_convert")
SCRIPT = os.path.join(ROOT, "deploy", "kiln-convert.sh")
DOUBLE = os.path.join(ROOT, "tests", "toolchain-double", "bin")
INI = "\n".join(["[jobs]", "workers = 2", ""] + [
    line for tc in ("tpu-mlir", "pulsar2", "pulsar", "voyager")
    for line in (f"[toolchain.{tc}]", "engine = local", f"path = {DOUBLE}", "")])
SPEC = """{
  "outputs": "suggested",
  "input": {"mean": [0, 0, 0], "scale": [0.00392157, 0.00392157, 0.00392157]},
  "calibration": {"count": 3},
  "mud": {"model_type": "yolo11", "labels": ["a", "b", "c", "d"]}
}
"""


def photos(folder):
    """Four skimage photos as JPEGs, and a text file kilnd drops."""
    import skimage.data
    from PIL import Image
    os.makedirs(folder)
    for n in ("astronaut", "coffee", "chelsea", "rocket"):
        buf = io.BytesIO()
        Image.fromarray(getattr(skimage.data, n)()).convert("RGB").save(buf, "JPEG", quality=90)
        with open(os.path.join(folder, n + ".jpg"), "wb") as f:
            f.write(buf.getvalue())
    with open(os.path.join(folder, "README.txt"), "w") as f:
        f.write("not an image\n")


def run(k, work, *args, token=None, env=None):
    e = dict(os.environ, KILN_URL=k.base, KILN_TOKEN=k.token if token is None else token)
    e.update(env or {})
    p = subprocess.run(["dash", SCRIPT] + list(args), cwd=work, env=e, capture_output=True,
                       text=True, timeout=600)
    return p.returncode, p.stderr


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    work = tempfile.mkdtemp(prefix="kiln-convert-")
    F.save(F.yolov8(eleven=True), os.path.join(work, "yolo11n.onnx"))
    photos(os.path.join(work, "calib"))
    with open(os.path.join(work, "spec.json"), "w") as f:
        f.write(SPEC)
    k = Kilnd(INI)
    try:
        def two_boards_in_one_call():
            rc, err = run(k, work, "-s", "spec.json", "-o", "out", "yolo11n.onnx", "calib",
                          "maixcam", "maixcam2")
            assert rc == 0, err
            st, jobs = k.json("GET", "/api/v1/jobs?limit=50")
            assert st == 200, jobs
            by_target = {j["target"]: j for j in jobs["items"]}
            assert sorted(by_target) == ["maixcam", "maixcam2"], jobs
            for board, j in by_target.items():
                assert j["state"] == "succeeded", j
                path = os.path.join(work, "out", f"yolo11n-{board}.tar.gz")
                st, b = k.json("GET", f"/api/v1/bundles/{j['bundle']}")
                assert st == 200, b
                # the file is the bundle kilnd stored, byte for byte
                assert sha256(path) == b["sha256"], (board, b)
                with tarfile.open(path) as t:
                    assert any(n.endswith("manifest.json") for n in t.getnames()), t.getnames()
            # the live log went by: the steps and the tools' lines, per board
            assert "[maixcam] step 1/" in err and "[maixcam2] step 1/" in err, err[:300]
            assert "[maixcam transform]" in err, err[:300]
            assert "succeeded: out/yolo11n-maixcam2.tar.gz" in err, [l for l in err.splitlines() if l.startswith("kiln-convert")]
            assert not [n for n in os.listdir(os.path.join(work, "out")) if n.endswith(".part")]
        R.check("two_boards_in_one_call_give_two_bundles", two_boards_in_one_call)

        def again_with_an_archive():
            # an archive is sent as is; the same model bytes are the same model
            with tarfile.open(os.path.join(work, "calib.tar"), "w") as t:
                t.add(os.path.join(work, "calib"), arcname="calib")
            rc, err = run(k, work, "-q", "-s", "spec.json", "-o", "out2",
                          "yolo11n.onnx", "calib.tar", "maixcam2")
            assert rc == 0, err
            st, models = k.json("GET", "/api/v1/models")
            assert len(models["items"]) == 1, [(m["id"], m["name"]) for m in models["items"]]
            assert os.path.getsize(os.path.join(work, "out2", "yolo11n-maixcam2.tar.gz")) > 0
            assert "step 1/" not in err, err  # -q: no live log
        R.check("an_archive_and_the_same_model_again", again_with_an_archive)

        def unknown_board():
            st, before = k.json("GET", "/api/v1/jobs")
            rc, err = run(k, work, "-s", "spec.json", "yolo11n.onnx", "calib", "maixcam", "nosuchboard")
            assert rc == 2, (rc, err)
            assert "the jobs were refused (HTTP 4" in err and "targets[1]" in err, err
            st, after = k.json("GET", "/api/v1/jobs")
            assert len(after["items"]) == len(before["items"]), "a job was queued for the other board"
        R.check("an_unknown_board_is_refused_and_nothing_queued", unknown_board)

        def no_images():
            empty = os.path.join(work, "empty")
            os.makedirs(empty)
            with open(os.path.join(empty, "notes.txt"), "w") as f:
                f.write("x\n")
            rc, err = run(k, work, "yolo11n.onnx", "empty", "maixcam")
            assert rc == 2, (rc, err)
            assert "the calibration set was rejected" in err, err
        R.check("a_folder_without_images_is_refused_with_the_reason", no_images)

        def no_token():
            rc, err = run(k, work, "yolo11n.onnx", "calib", "maixcam", token="")
            assert rc == 2 and "KILN_TOKEN is not set" in err, (rc, err)
            rc, err = run(k, work, "yolo11n.onnx", "calib", "maixcam", token="kiln_wrong")
            assert rc == 2 and "the model was refused (HTTP 401)" in err, (rc, err)
            rc, err = run(k, work, "yolo11n.onnx", "calib")
            assert rc == 2 and "usage:" in err, (rc, err)
        R.check("no_token_or_arguments_exit_2_saying_why", no_token)
    finally:
        rc = k.stop()
        if rc != 0:
            R.fail("kilnd_stops_cleanly", f"exit {rc}")

    # A job that fails: the double's TPU-MLIR compare reports a low cosine.
    os.environ["KILN_DOUBLE_LOW_COSINE"] = "model_deploy:1"
    k = Kilnd(INI)
    try:
        def failing_job():
            rc, err = run(k, work, "-q", "-s", "spec.json", "-o", "out3", "yolo11n.onnx", "calib",
                          "maixcam", "maixcam2")
            assert rc == 1, (rc, err)
            assert "(maixcam) failed: step 'deploy_int8'" in err and "below the tolerance" in err, err
            assert "[maixcam log]" in err, err
            # the other board still succeeded and its bundle is there
            assert os.path.exists(os.path.join(work, "out3", "yolo11n-maixcam2.tar.gz")), err
            assert not os.path.exists(os.path.join(work, "out3", "yolo11n-maixcam.tar.gz"))
        R.check("a_failed_job_exits_1_with_its_error_and_log", failing_job)
    finally:
        del os.environ["KILN_DOUBLE_LOW_COSINE"]
        k.stop()
    R.done()


if __name__ == "__main__":
    main()
