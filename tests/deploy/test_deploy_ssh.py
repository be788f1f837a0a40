"""Push deployments against a real OpenSSH server playing the board: Debian's
sshd on a loopback port with a throwaway host key, the device's generated
key authorized, and device doubles (tests/deploy/board, labelled) on its
PATH / PYTHONPATH where the board runtime cannot exist.  Kiln's own test
programs run over ssh; the preview JPEG is drawn by kilnd."""
import base64
import io
import os
import shutil
import socket
import subprocess
import tempfile
import time

from board_lib import (DOUBLES, SSHD, Kilnd, Report, SshBoard, add_bundle, jpeg,  # noqa: F401
                       make_bundle_dir)

R = Report("test_deploy_ssh")
WORK = tempfile.mkdtemp(prefix="kiln-ssh-")
S = {}


def setup():
    S["k"] = Kilnd("[deploy]\nconnect_timeout = 3\nstep_timeout = 60\n")
    S["board"] = SshBoard(WORK)
    S["models"] = os.path.join(WORK, "models")
    S["img"] = jpeg(os.path.join(WORK, "test.jpg"), 320, 240)


def register(name, target, address=None):
    k = S["k"]
    st, dev = k.json("POST", "/api/v1/devices", {
        "name": name, "target": target, "transport": "ssh",
        "address": address or f"root@127.0.0.1:{S['board'].port}", "models_dir": S["models"]})
    assert st == 201, (st, dev)
    assert dev["ssh_public_key"].startswith("ssh-ed25519 "), dev
    key = os.path.join(k.data, "keys", f"device-{dev['id']}")
    assert os.stat(key).st_mode & 0o777 == 0o600, oct(os.stat(key).st_mode)
    S["board"].authorize(dev["ssh_public_key"])
    return dev


def deploy(dev, bundle, image=True, runs=5):
    k = S["k"]
    body = {"bundle": bundle, "device": dev["id"], "test": {"runs": runs}}
    if image:
        body["test"]["image"] = base64.b64encode(S["img"]).decode()
    st, o = k.json("POST", "/api/v1/deployments", body)
    assert st == 202, (st, o)
    st, o = k.json("GET", f"/api/v1/deployments/{o['id']}?wait=60")
    assert st == 200 and o["state"] in ("succeeded", "failed"), o
    return o


def maixcam_detector_with_preview():
    k = S["k"]
    d = make_bundle_dir(WORK, "det", "maixcam", payload=100_000)
    b = add_bundle(k, d, "det", "maixcam")
    dev = register("cam1", "maixcam")
    S["cam1"] = dev
    o = deploy(dev, b["id"])
    S["det"] = (b["id"], o["id"])
    assert o["state"] == "succeeded", (o["error"], o.get("raw_output"))
    r = o["result"]
    assert r["runtime"] == "maixpy" and r["mode"] == "detector", r
    assert r["summary"]["runs"] == 5 and r["summary"]["detections"] == 1, r
    assert r["detections"][0][:4] == [80, 60, 160, 120], r["detections"]
    assert [s["name"] for s in o["steps"]] == ["connect", "copy", "unpack", "test", "preview",
                                               "install", "cleanup"], o["steps"]
    assert os.path.exists(os.path.join(S["models"], "det", "det.mud"))
    assert not [n for n in os.listdir(S["models"]) if n.startswith("kiln-deploy-")]
    st, h, pic = k.request("GET", o["preview"])
    assert st == 200 and h["Content-Type"] == "image/jpeg", (st, h)
    from PIL import Image
    im = Image.open(io.BytesIO(pic)).convert("RGB")
    assert im.size == (320, 240)
    # The box's left edge at x=80 is drawn in class 0's colour (red-ish),
    # where the test picture was plain grey.
    r_, g_, b_ = im.getpixel((81, 150))
    assert r_ > 150 and g_ < 100 and b_ < 120, (r_, g_, b_)
    assert im.getpixel((20, 20))[0] < 130  # untouched background


def axera_run_joint_latency():
    k = S["k"]
    d = make_bundle_dir(WORK, "mbv2", "axera-pi", payload=20_000)
    b = add_bundle(k, d, "mbv2", "axera-pi")
    dev = register("axpi", "axera-pi")
    o = deploy(dev, b["id"], image=False, runs=100)
    assert o["state"] == "succeeded", (o["error"], o.get("raw_output"))
    assert o["result"]["latency_avg_ms"] == 2.143, o["result"]
    assert "Run task took 2143 us" in o["raw_output"], o["raw_output"]
    assert o["preview"] is None


def check_uptime_latencies(o, runtime, runs):
    """The recamera / metis programs time each run from /proc/uptime (10 ms
    ticks): one whole, non-negative millisecond count per run."""
    assert o["state"] == "succeeded", (o["error"], o.get("raw_output"))
    r = o["result"]
    assert r["runtime"] == runtime and r["mode"] == "latency", r
    assert r["clock"] == "proc_uptime_10ms" and r["load_ms"] is None, r
    assert r["runs"] == runs and len(r["latency_ms"]) == runs, r
    for ms in r["latency_ms"]:
        assert isinstance(ms, int) and 0 <= ms < 60_000 and ms % 10 == 0, r["latency_ms"]
    s = r["summary"]
    assert s["runs"] == runs and s["detections"] == 0, s
    assert s["min_ms"] == min(r["latency_ms"]) and s["max_ms"] == max(r["latency_ms"]), s
    assert r["detections"] == [], r
    assert [st["name"] for st in o["steps"]] == ["connect", "copy", "unpack", "test", "preview",
                                                 "install", "cleanup"], o["steps"]
    assert all(st["state"] == "ok" for st in o["steps"]), o["steps"]
    # No boxes, but still a preview: the test picture itself.
    st, h, pic = S["k"].request("GET", o["preview"])
    assert st == 200 and h["Content-Type"] == "image/jpeg", (st, h)
    from PIL import Image
    assert Image.open(io.BytesIO(pic)).size == (320, 240)
    assert not [n for n in os.listdir(S["models"]) if n.startswith("kiln-deploy-")]


def recamera_sscma_model_latency():
    k = S["k"]
    d = make_bundle_dir(WORK, "rcdet", "recamera", payload=30_000)
    b = add_bundle(k, d, "rcdet", "recamera")
    dev = register("recam", "recamera")
    S["recam"], S["rcdet"] = dev, b
    o = deploy(dev, b["id"], runs=4)
    check_uptime_latencies(o, "sscma-model", 4)
    raw = o["raw_output"]
    # The double ran once per run, on the bundle's model and the test JPEG.
    assert raw.count("sscma-model (kiln device double)") == 4, raw
    assert "/bundle/rcdet_int8.cvimodel input=" in raw and "/test.jpg output=" in raw, raw
    assert os.path.exists(os.path.join(S["models"], "rcdet", "rcdet_int8.cvimodel"))


def recamera_without_image_is_a_clear_error():
    o = deploy(S["recam"], S["rcdet"]["id"], image=False, runs=2)
    assert o["state"] == "failed", o
    assert "exited with status 2" in o["error"], o["error"]
    # Said once: the message is not formatted into itself.
    assert o["error"].count("test program exited") == 1, o["error"]
    assert "sscma-model needs a test image" in o["raw_output"], o["raw_output"]


def metis_inference_py_latency():
    k = S["k"]
    d = make_bundle_dir(WORK, "yolov5s", "metis", payload=30_000)
    b = add_bundle(k, d, "yolov5s", "metis")
    dev = register("metis1", "metis")
    o = deploy(dev, b["id"], runs=3)
    check_uptime_latencies(o, "voyager", 3)
    raw = o["raw_output"]
    # The double ran once per run, as the SDK is run: the registered network
    # YAML, the bundle's build tree as --build-root, the test JPEG.
    assert raw.count("INFO    : inference.py (kiln device double): network=yolov5s") == 3, raw
    assert "/bundle/build/yolov5s sources=" in raw and "/test.jpg" in raw, raw
    assert raw.count("INFO    : End-to-end : 298.7fps") == 3, raw
    assert os.path.exists(os.path.join(S["models"], "yolov5s", "ax_models", "kiln", "network.yaml"))
    assert os.path.exists(os.path.join(S["models"], "yolov5s", "build", "yolov5s", "yolov5s", "1",
                                       "model.json"))


def metis_double_refuses_what_the_sdk_refuses():
    """The device double holds the SDK's argparse: a model.json (the old
    program's argument) is no network; an unregistered YAML neither."""
    d = make_bundle_dir(WORK, "net", "metis", payload=100)
    pic = os.path.join(WORK, "metis-src.jpg")
    jpeg(pic)
    dbl = os.path.join(DOUBLES, "inference.py")

    def run(*args):
        return subprocess.run(["/usr/bin/python3", dbl, *args], cwd=d, capture_output=True,
                              text=True, timeout=60)
    ok = run("ax_models/kiln/network.yaml", pic, "--build-root", "build", "--no-display")
    assert ok.returncode == 0, (ok.stdout, ok.stderr)
    by_name = run("net", pic, "--build-root", "build", "--no-display")
    assert by_name.returncode == 0, (by_name.stdout, by_name.stderr)
    bare = run("build/net/net/1/model.json", pic, "--no-display")
    assert bare.returncode == 2, (bare.stdout, bare.stderr)
    assert "inference.py: error: \"Invalid network 'build/net/net/1/model.json'" in bare.stderr, \
        bare.stderr
    shutil.copy(os.path.join(d, "ax_models", "kiln", "network.yaml"), os.path.join(d, "x.yaml"))
    unreg = run("x.yaml", pic, "--no-display")
    assert unreg.returncode == 2 and "Invalid network 'x.yaml'" in unreg.stderr, unreg.stderr
    nosrc = run("ax_models/kiln/network.yaml", "--no-display")
    assert nosrc.returncode == 2 and "error: No source provided" in nosrc.stderr, nosrc.stderr
    # Only YAMLs under the working directory's ax_models/ are registered, so
    # the test program must run from the unpacked bundle.
    elsewhere = subprocess.run(["/usr/bin/python3", dbl, os.path.join(d, "ax_models/kiln/network.yaml"),
                                pic, "--no-display"], cwd=WORK, capture_output=True, text=True,
                               timeout=60)
    assert elsewhere.returncode == 2, (elsewhere.stdout, elsewhere.stderr)
    wrong_cores = run("net", pic, "--build-root", "build", "--no-display", "--aipu-cores", "5")
    assert wrong_cores.returncode == 2 and "invalid choice: 5" in wrong_cores.stderr, \
        wrong_cores.stderr


def garbage_output_is_a_clear_error():
    k = S["k"]
    d = make_bundle_dir(WORK, "junk", "maixcam", extra={"kiln_double": "garbage"})
    b = add_bundle(k, d, "junk", "maixcam")
    o = deploy(S["cam1"], b["id"])
    assert o["state"] == "failed", o
    assert "not a JSON object" in o["error"] and "raw_output" in o["error"], o["error"]
    assert "garbage ###" in o["raw_output"], o["raw_output"]
    assert not os.path.exists(os.path.join(S["models"], "junk")), "a failed test must not install"


def unreachable_board_fails_within_timeout():
    k = S["k"]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    d = make_bundle_dir(WORK, "det2", "maixcam")
    b = add_bundle(k, d, "det2", "maixcam")
    st, dev = k.json("POST", "/api/v1/devices", {
        "name": "gone", "target": "maixcam", "transport": "ssh",
        "address": f"root@127.0.0.1:{closed}", "models_dir": S["models"]})
    assert st == 201, dev
    t0 = time.monotonic()
    o = deploy(dev, b["id"])
    took = time.monotonic() - t0
    assert o["state"] == "failed" and "cannot reach" in o["error"], o["error"]
    assert "Connection refused" in o["error"], o["error"]
    assert took < 30, took
    # A board that never answers hits ConnectTimeout = 3 s from the
    # settings, not the 60 s step timeout.  Played on loopback (tests send
    # traffic nowhere else): a socket that listens but never accepts, so the
    # kernel completes the TCP handshake and ssh waits for a banner that
    # never comes (OpenSSH applies ConnectTimeout to the banner exchange).
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    try:
        st, dev = k.json("POST", "/api/v1/devices", {
            "name": "silent", "target": "maixcam", "transport": "ssh",
            "address": f"root@127.0.0.1:{mute.getsockname()[1]}", "models_dir": S["models"]})
        t0 = time.monotonic()
        o = deploy(dev, b["id"])
        took = time.monotonic() - t0
    finally:
        mute.close()
    assert o["state"] == "failed" and "cannot reach" in o["error"], o["error"]
    assert "timed out" in o["error"], o["error"]
    assert took < 20, took


def push_deploys_update_the_device():
    """A push deploy tells the device record what a pull report does: the
    board was seen, the installed bundle, and a report naming the
    deployment; a failed one is a 'failed' report that keeps what is
    installed; a board that never answered was not seen."""
    k = S["k"]
    bundle, dep = S["det"]
    st, dev = k.json("GET", f"/api/v1/devices/{S['cam1']['id']}")
    assert st == 200, dev
    assert dev["installed_bundle"] == bundle, dev
    assert dev["last_seen"], dev
    # Newest first: the garbage deployment (failed after reaching the board)
    # comes after the good one.
    statuses = [(r["status"], r["bundle"], r["detail"].split(":")[0]) for r in dev["reports"]]
    assert statuses[-1] == ("installed", bundle, f"push deployment {dep}"), statuses
    assert statuses[0][0] == "failed" and "not a JSON object" in dev["reports"][0]["detail"], statuses
    assert dev["last_status"] == "failed", dev
    st, page = k.json("GET", "/api/v1/devices")
    gone = [d for d in page["items"] if d["name"] in ("gone", "silent")]
    assert len(gone) == 2 and all(d["last_seen"] is None for d in gone), gone
    for d in gone:
        st, full = k.json("GET", f"/api/v1/devices/{d['id']}")
        assert full["reports"] == [] and full["installed_bundle"] is None, full


def target_mismatch_and_pull_only():
    k = S["k"]
    st, bundles = k.json("GET", "/api/v1/bundles?target=axera-pi")
    st, o = k.json("POST", "/api/v1/deployments",
                   {"bundle": bundles["items"][0]["id"], "device": S["cam1"]["id"]})
    assert st == 409, (st, o)
    st, o = k.json("POST", "/api/v1/deployments",
                   {"bundle": 1, "device": S["cam1"]["id"], "test": {"image": "bm90IGEganBlZw=="}})
    assert st == 400, (st, o)


def main():
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        R.skip("ssh_deployments", "openssh-server / openssh-client not installed")
        R.done()
    setup()
    R.check("maixcam_detector_runs_over_ssh_and_gets_a_preview", maixcam_detector_with_preview)
    R.check("axera_pi_run_joint_latency_is_parsed", axera_run_joint_latency)
    R.check("recamera_sscma_model_latency_is_parsed", recamera_sscma_model_latency)
    R.check("recamera_without_a_test_image_is_a_clear_error",
            recamera_without_image_is_a_clear_error)
    R.check("metis_inference_py_latency_is_parsed", metis_inference_py_latency)
    R.check("metis_device_double_refuses_what_the_sdk_argparse_refuses",
            metis_double_refuses_what_the_sdk_refuses)
    R.check("test_program_printing_garbage_is_a_clear_error_with_raw_kept",
            garbage_output_is_a_clear_error)
    R.check("unreachable_board_fails_within_the_connect_timeout",
            unreachable_board_fails_within_timeout)
    R.check("push_deploys_update_the_device_as_pull_reports_do", push_deploys_update_the_device)
    R.check("deployment_refuses_target_mismatch_and_bad_image", target_mismatch_and_pull_only)
    S["board"].stop()
    rc = S["k"].stop()
    if rc != 0:
        print(f"FAIL test_deploy_ssh.kilnd_exit: kilnd exited {rc}")
        R.failed += 1
    R.done()


main()
