"""The README's curl walk-through is a test: every ```sh block of README.md
from the walk-through on (```shell blocks are for running by hand and are
not run), in order, in one bash with `set -euo pipefail`, in a folder where kilnd was
started the way `make run` starts it (no --listen/--data-dir: kiln.ini and
the default ./var), against real files: a YOLO11-shaped ONNX with the
Ultralytics tensor names, real photos from python3-skimage in calib/ (plus a
hidden file and a truncated JPEG the upload must reject), and Debian's
OpenSSH server on a loopback port playing the board.

The toolchains are the test double (tests/toolchain-double, engine =
local): the vendor images cannot exist here.  The one step the README
leaves to the person, adding the device's public key to the board's
authorized_keys, is played by the board's sshd reading device.json (which
the walk-through writes) through AuthorizedKeysCommand.

Every curl in the README uses -f, so any 4xx/5xx stops the script; the
test names the block that failed.  A README that drifts from the API
fails here.
"""
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
sys.path.insert(0, os.path.join(ROOT, "tests", "deploy"))

import onnx_fixtures as F  # noqa: E402
from board_lib import SshBoard  # noqa: E402
from kiln_server import KILND  # noqa: E402

R = F.Report("test_readme")
DOUBLE = os.path.join(ROOT, "tests", "toolchain-double", "bin")
TOOLCHAINS = ("tpu-mlir", "pulsar2", "pulsar", "voyager")


def sh_blocks(text):
    """The README's ```sh blocks from the walk-through on, in order (other
    fences are prose; the two commands above it are run by CI itself)."""
    start = text.index("## A walk through the API with curl")
    return re.findall(r"^```sh\n(.*?)^```", text[start:], flags=re.S | re.M)


def photos(folder):
    """Real photos from python3-skimage as JPEGs, a hidden file and a
    truncated JPEG (both must be rejected with a reason)."""
    import skimage.data
    from PIL import Image
    os.makedirs(folder)
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field"]
    first = None
    for n in names:
        arr = getattr(skimage.data, n)()
        buf = io.BytesIO()
        Image.fromarray(arr).convert("RGB").save(buf, "JPEG", quality=90)
        with open(os.path.join(folder, n + ".jpg"), "wb") as f:
            f.write(buf.getvalue())
        first = first or buf.getvalue()
    with open(os.path.join(folder, ".DS_Store"), "wb") as f:
        f.write(b"\0\0\0\1Bud1")
    with open(os.path.join(folder, "broken.jpg"), "wb") as f:
        f.write(first[: len(first) // 3])


def start_kilnd(work):
    """kilnd as `make run` starts it: from the folder, --config kiln.ini,
    data in the default ./var; the port is picked by the kernel and read
    from --ready-fd (the README's KILN is then set to it)."""
    lines = ["[server]", "listen = 127.0.0.1:0", "", "[deploy]", "connect_timeout = 5", ""]
    for tc in TOOLCHAINS:
        lines += [f"[toolchain.{tc}]", "engine = local", f"path = {DOUBLE}", ""]
    with open(os.path.join(work, "kiln.ini"), "w") as f:
        f.write("\n".join(lines))
    r, w = os.pipe()
    log = open(os.path.join(work, "kilnd.log"), "wb")
    proc = subprocess.Popen([KILND, "--config", "kiln.ini", "--ready-fd", str(w)], cwd=work,
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=log,
                            stdin=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as rf:
        addr = rf.readline().strip()
    if not addr:
        proc.wait()
        raise RuntimeError("kilnd did not start: " + open(log.name).read())
    return proc, log, "http://" + addr


def walkthrough():
    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = sh_blocks(f.read())
    assert len(blocks) >= 7, f"README has {len(blocks)} sh blocks"
    work = tempfile.mkdtemp(prefix="kiln-readme-")
    F.save(F.yolov8(nc=3, eleven=True), os.path.join(work, "yolo11n.onnx"))
    photos(os.path.join(work, "calib"))
    # deploy/kiln-pull.sh and kiln-convert.sh are named relative to the repository in the README
    os.makedirs(os.path.join(work, "deploy"))
    for script in ("kiln-pull.sh", "kiln-convert.sh"):
        shutil.copy(os.path.join(ROOT, "deploy", script), os.path.join(work, "deploy"))
    board = SshBoard(work, keys_command=f"/usr/bin/jq -r .ssh_public_key {work}/device.json")
    proc, log, base = start_kilnd(work)
    try:
        script = ["set -euo pipefail"]
        for i, b in enumerate(blocks, 1):
            script.append(f"echo '### README block {i} starts' >&2")
            script.append(b)
            script.append(f"echo '### README block {i} ok' >&2")
        script.append("echo '### README done' >&2")
        env = dict(os.environ, KILN=base, BOARD=f"root@127.0.0.1:{board.port}",
                   MODELS_DIR=board.models)
        p = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
        done = re.findall(r"### README block (\d+) ok", p.stderr)
        last = int(done[-1]) if done else 0
        if p.returncode != 0 or "### README done" not in p.stderr:
            failed = blocks[last] if last < len(blocks) else ""
            raise AssertionError(
                f"README sh block {last + 1} of {len(blocks)} failed (exit {p.returncode}): "
                f"{failed.strip().splitlines()[0] if failed.strip() else ''} ... stderr: "
                f"{p.stderr[-600:]} stdout: {p.stdout[-300:]}")
        # What the walk-through claims, checked from the files it left:
        # kilnd kept its data in the default ./var, the rejected entries were
        # named, the bundle came down, and the board got the model.
        assert os.path.exists(os.path.join(work, "var", "kiln.db"))
        import json
        ds = json.load(open(os.path.join(work, "dataset.json")))
        rejected = {e["entry"].split("/")[-1] for e in ds["rejected"]}
        assert ds["images"] == 6 and {".DS_Store", "broken.jpg"} <= rejected, ds
        dep = json.load(open(os.path.join(work, "deployment.json")))
        assert dep["state"] == "succeeded", dep
        assert os.path.exists(os.path.join(board.models, "yolo11n", "yolo11n.mud")), \
            os.listdir(board.models)
        assert os.path.exists(os.path.join(work, "pulled", "yolo11n", "yolo11n.mud"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
        board.stop()
    shutil.rmtree(work, ignore_errors=True)


def main():
    R.check("walkthrough_runs_as_written_against_a_live_kilnd", walkthrough)
    R.done()


if __name__ == "__main__":
    main()
