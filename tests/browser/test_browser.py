"""Browser tests: starts kilnd on an ephemeral port (toolchain double
configured), builds the fixtures (a YOLOv8-shaped ONNX, a calibration
archive with one broken image, a test JPEG), starts an OpenSSH server on a
loopback port playing the board (as tests/deploy/test_deploy_ssh.py does),
and runs tests/browser/dashboard.mjs with Node, relaying its PASS/FAIL/SKIP
lines for tests/run.sh.

Needs /usr/bin/chromium, node, and playwright-core in node_modules (`make
test` installs all three); without one of them it prints one FAIL line
naming what is missing and how to get it: a browser suite that cannot run
is a failure, never a silent skip.
Screenshots go to a kept temporary directory named on a '#' line
(KILN_BROWSER_OUT overrides it).
"""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
sys.path.insert(0, os.path.join(ROOT, "tests", "deploy"))

from kiln_server import Kilnd  # noqa: E402
from board_lib import SSHD, SshBoard  # noqa: E402


SUITE = "browser"


def cannot_run(why):
    print(f"FAIL {SUITE}.can_run: the browser tests cannot run: {why}", flush=True)
    sys.exit(1)


def calib_archive(path):
    """A tar.gz of a few real photos and one truncated JPEG; None without PIL."""
    try:
        from PIL import Image
    except ImportError:
        return None
    entries = []
    for i, (w, h) in enumerate([(320, 240), (640, 480), (300, 300), (200, 260)]):
        im = Image.new("RGB", (w, h))
        px = im.load()
        for y in range(0, h, 4):
            for x in range(0, w, 4):
                px[x, y] = ((x * 3 + i * 40) % 256, (y * 5) % 256, ((x + y) * 2) % 256)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        entries.append((f"img_{i}.jpg", buf.getvalue()))
    entries.append(("broken.jpg", entries[0][1][: len(entries[0][1]) // 3]))
    # The same images as a folder with two subfolders, for the folder and
    # several-files pickers (they pack it into a tar in the browser).
    folder = os.path.join(os.path.dirname(path), "calib")
    for i, (name, data) in enumerate(entries):
        sub = os.path.join(folder, "day" if i % 2 == 0 else "night")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, name), "wb") as f:
            f.write(data)
    with tarfile.open(path, "w:gz") as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return path


def slow_archive(path, n=60):
    """A tar of n blank 4000x3000 PNGs: small to send, seconds to decode, so
    the dataset page is seen while the server still checks it."""
    try:
        from PIL import Image
    except ImportError:
        return None
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (128, 128, 128)).save(buf, "PNG")
    with tarfile.open(path, "w") as t:
        for i in range(n):
            ti = tarfile.TarInfo(f"big/{i:03d}.png")
            ti.size = len(buf.getvalue())
            t.addfile(ti, io.BytesIO(buf.getvalue()))
    return path


def test_jpeg(path, w=320, h=240):
    """The deploy tests' picture (grey with a lighter square); None without PIL."""
    try:
        from PIL import Image
    except ImportError:
        return None
    img = Image.new("RGB", (w, h), (90, 90, 90))
    for y in range(h // 3, 2 * h // 3):
        for x in range(w // 3, 2 * w // 3):
            img.putpixel((x, y), (200, 200, 200))
    img.save(path, "JPEG", quality=90)
    return path


def main():
    node = shutil.which("node")
    if not os.path.exists("/usr/bin/chromium"):
        cannot_run("/usr/bin/chromium is missing (Debian package chromium; make test installs it)")
    if node is None:
        cannot_run("node is missing (Debian package nodejs; make test installs it)")
    if not os.path.isdir(os.path.join(ROOT, "node_modules", "playwright-core")):
        cannot_run("playwright-core is not installed: `npm ci` at the top failed or did not "
                   "run (make test runs it; see its output above)")
    v = subprocess.run([node, "-e", "require('playwright-core'); console.log(process.version)"],
                       cwd=ROOT, capture_output=True, text=True)
    if v.returncode != 0:
        cannot_run(f"node {v.stdout.strip()} cannot load playwright-core: "
                   f"{v.stderr.strip()[-300:]}")

    import onnx_fixtures as F

    out = os.environ.get("KILN_BROWSER_OUT") or tempfile.mkdtemp(prefix="kiln-browser-")
    os.makedirs(out, exist_ok=True)
    onnx_path = os.path.join(out, "y8.onnx")
    F.save(F.yolov8(), onnx_path)
    calib = calib_archive(os.path.join(out, "calib.tar.gz"))
    double = os.path.join(ROOT, "tests", "toolchain-double", "bin")
    ini = "".join(f"[toolchain.{t}]\nengine = local\npath = {double}\n\n"
                  for t in ("tpu-mlir", "pulsar2", "pulsar", "voyager"))
    ini += "[deploy]\nconnect_timeout = 3\nstep_timeout = 60\n"
    board = None
    if os.path.exists(SSHD) and shutil.which("ssh") is not None:
        board = SshBoard(out)
    else:
        print("# no openssh-server / openssh-client: the devices test skips", flush=True)
    k = Kilnd(ini)
    env = dict(os.environ, KILN_BASE=k.base, KILN_TOKEN=k.token, KILN_OUT=out,
               KILN_ONNX=onnx_path, KILN_CALIB=calib or "",
               KILN_CALIB_DIR=os.path.join(out, "calib") if calib else "",
               KILN_CALIB_SLOW=slow_archive(os.path.join(out, "slow.tar")) or "",
               KILN_TEST_JPEG=test_jpeg(os.path.join(out, "test.jpg")) or "")
    if board:
        env.update(KILN_BOARD_ADDRESS=f"root@127.0.0.1:{board.port}",
                   KILN_BOARD_AUTHORIZED_KEYS=board.auth, KILN_BOARD_MODELS=board.models)
    print(f"# screenshots: {out}", flush=True)
    rc = 1
    try:
        p = subprocess.run([node, os.path.join(HERE, "dashboard.mjs")], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
        sys.stdout.write(p.stdout)
        rc = p.returncode
        if rc != 0 and "FAIL " not in p.stdout:
            print(f"FAIL {SUITE}.runner: node exited {rc}", flush=True)
    finally:
        if board:
            board.stop()
        status = k.stop()
        if status != 0:
            print(f"FAIL {SUITE}.kilnd_exit: kilnd exited {status}; log: "
                  + k.log_text()[-400:].replace("\n", " "), flush=True)
            rc = 1
    sys.exit(1 if rc else 0)


if __name__ == "__main__":
    main()
