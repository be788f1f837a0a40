"""Push deployments over the adb transport (deploy/transport.c: `adb -s SERIAL
push|shell`) against the adb DOUBLE in tests/deploy/board/adb (labelled; no
Android device can exist here): kilnd runs with that directory first on its
PATH, and each device is a directory $KILN_ADB_ROOT/<serial> used as the
device's root filesystem (board_lib.adb_device), where Kiln's real axera-pi
test program runs under busybox sh with the run_joint double."""
import hashlib
import os
import shutil
import subprocess
import tempfile

from board_lib import DOUBLES, Kilnd, Report, adb_device, add_bundle, make_bundle_dir

R = Report("test_deploy_adb")
WORK = tempfile.mkdtemp(prefix="kiln-adb-")
ADB_ROOT = os.path.join(WORK, "adb")
MODELS = "/data/local/tmp/kiln"  # a path on the device
S = {}


def setup():
    os.makedirs(ADB_ROOT)
    S["dev_root"] = adb_device(ADB_ROOT, "axpi-0123ABCD")
    # kilnd inherits the environment: the double first on its PATH.
    os.environ["PATH"] = DOUBLES + ":" + os.environ.get("PATH", "/usr/bin:/bin")
    os.environ["KILN_ADB_ROOT"] = ADB_ROOT
    S["k"] = Kilnd("[deploy]\nconnect_timeout = 3\nstep_timeout = 60\n")


def register(name, serial):
    st, dev = S["k"].json("POST", "/api/v1/devices", {
        "name": name, "target": "axera-pi", "transport": "adb", "address": serial,
        "models_dir": MODELS})
    assert st == 201, (st, dev)
    return dev


def deploy(dev, bundle, runs=5):
    k = S["k"]
    st, o = k.json("POST", "/api/v1/deployments",
                   {"bundle": bundle, "device": dev["id"], "test": {"runs": runs}})
    assert st == 202, (st, o)
    st, o = k.json("GET", f"/api/v1/deployments/{o['id']}?wait=60")
    assert st == 200 and o["state"] in ("succeeded", "failed"), o
    return o


def double_contract():
    """The double itself, as transport.c calls it (argv, exit codes, messages)."""
    env = dict(os.environ)
    adb = os.path.join(DOUBLES, "adb")
    with open(adb) as f:
        assert "DOUBLE" in f.read(200), "the adb double must say it is one"
    r = subprocess.run([adb, "-s", "axpi-0123ABCD", "shell", "echo hi; echo err >&2; exit 7"],
                       capture_output=True, text=True, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (7, "hi\n", "err\n"), r
    # Runs chrooted: / is the device root.
    r = subprocess.run([adb, "-s", "axpi-0123ABCD", "shell", "ls /usr/local/bin"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "run_joint" in r.stdout.split(), r
    r = subprocess.run([adb, "-s", "nosuch", "shell", "true"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 1 and r.stderr == "error: device 'nosuch' not found\n", r
    r = subprocess.run([adb, "-s", "nosuch", "push", adb, "/data/"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 1 and "device 'nosuch' not found" in r.stderr, r
    # Several files into something that is not a directory: refused, as adb does.
    r = subprocess.run([adb, "-s", "axpi-0123ABCD", "push", adb, adb, "/nodir/"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "is not a directory" in r.stderr, r
    r = subprocess.run([adb, "-s", "axpi-0123ABCD", "push", "/nonexistent/x", "/"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "cannot stat" in r.stderr, r


def axera_pi_over_adb():
    k = S["k"]
    d = make_bundle_dir(WORK, "mbv2", "axera-pi", payload=20_000)
    b = add_bundle(k, d, "mbv2", "axera-pi")
    dev = register("axpi", "axpi-0123ABCD")
    o = deploy(dev, b["id"], runs=100)
    assert o["state"] == "succeeded", (o["error"], o.get("raw_output"))
    r = o["result"]
    assert r["runtime"] == "run_joint" and r["mode"] == "latency", r
    assert r["latency_avg_ms"] == 2.143 and r["runs"] == 100, r
    assert "Run task took 2143 us (99 rounds for average)" in o["raw_output"], o["raw_output"]
    assert o["preview"] is None
    assert [s["name"] for s in o["steps"]] == ["connect", "copy", "unpack", "test", "install",
                                               "cleanup"], o["steps"]
    assert all(s["state"] == "ok" for s in o["steps"]), o["steps"]
    # Installed on the device (under its root), byte for byte; staging removed.
    models = S["dev_root"] + MODELS
    with open(os.path.join(d, "mbv2.joint"), "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(models, "mbv2", "mbv2.joint"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == want
    assert sorted(os.listdir(models)) == ["mbv2"], os.listdir(models)
    # Deployed again: the new one replaces the old, nothing left over.
    o = deploy(dev, b["id"], runs=3)
    assert o["state"] == "succeeded", (o["error"], o.get("raw_output"))
    assert sorted(os.listdir(models)) == ["mbv2"], os.listdir(models)
    S["mbv2"] = b


def unknown_serial_fails_clearly():
    if "mbv2" not in S:
        S["mbv2"] = add_bundle(S["k"], make_bundle_dir(WORK, "mbv2", "axera-pi"), "mbv2",
                               "axera-pi")
    dev = register("ghost", "nosuch-serial")
    o = deploy(dev, S["mbv2"]["id"])
    assert o["state"] == "failed", o
    err = o["error"]
    assert "adb device nosuch-serial" in err and "device 'nosuch-serial' not found" in err, err
    assert o["steps"][0]["name"] == "connect" and o["steps"][0]["state"] == "failed", o["steps"]
    assert [s["name"] for s in o["steps"]] == ["connect"], o["steps"]
    assert not os.path.exists(os.path.join(ADB_ROOT, "nosuch-serial"))


def main():
    if shutil.which("busybox") is None:
        R.skip("adb_deployments", "busybox not installed (the device's userland)")
        R.done()
    if os.getuid() != 0 and subprocess.run(["unshare", "-r", "true"]).returncode != 0:
        R.skip("adb_deployments", "the adb double needs root or user namespaces for chroot")
        R.done()
    setup()
    R.check("adb_double_honours_the_clients_contract", double_contract)
    R.check("axera_pi_deploys_over_adb_and_run_joint_latency_is_parsed", axera_pi_over_adb)
    R.check("unknown_adb_serial_fails_with_a_clear_message", unknown_serial_fails_clearly)
    rc = S["k"].stop()
    if rc != 0:
        print(f"FAIL test_deploy_adb.kilnd_exit: kilnd exited {rc}")
        R.failed += 1
    R.done()


main()
