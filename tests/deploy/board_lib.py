"""Shared pieces of the bundle / pull / deploy tests: real bundles made with
build/tools/bundle_add (conversion/bundle.h's packer), a busybox "board"
userland for deploy/kiln-pull.sh, an OpenSSH server on a loopback port
playing the board, and the PASS/FAIL/SKIP report tests/run.sh counts.
Run with Debian's /usr/bin/python3."""
import json
import random
import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("KILN_BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from kiln_server import Kilnd  # noqa: E402,F401

BUNDLE_ADD = os.path.join(BUILD, "tools", "bundle_add")
PULL_SH = os.path.join(ROOT, "deploy", "kiln-pull.sh")
DOUBLES = os.path.join(HERE, "board")


class Report:
    """PASS/FAIL/SKIP lines, as tests/onnx/onnx_fixtures.py's Report."""

    def __init__(self, suite):
        self.suite = suite
        self.failed = 0

    def check(self, name, fn):
        try:
            fn()
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {self.suite}.{name}: {str(e).replace(chr(10), ' ')[:400] or 'assertion failed'}",
                  flush=True)
        except Exception as e:  # a crash in the test is a failure too
            self.failed += 1
            print(f"FAIL {self.suite}.{name}: {type(e).__name__}: {str(e)[:400]}", flush=True)
        else:
            print(f"PASS {self.suite}.{name}", flush=True)

    def skip(self, name, why):
        print(f"SKIP {self.suite}.{name}: {why}", flush=True)

    def done(self):
        sys.exit(1 if self.failed else 0)


def make_bundle_dir(root, name, target="maixcam", payload=4096, seed=1, extra=None):
    """A bundle directory as a recipe stages it: a .mud and the model file
    (random bytes standing in for the compiled model; nothing here runs it
    except the device doubles)."""
    d = tempfile.mkdtemp(prefix="bundle-", dir=root)
    # Incompressible, so the archive is as large as the payload.
    rnd = random.Random(seed).randbytes(payload)
    if target in ("maixcam", "maixcam2", "recamera"):
        with open(os.path.join(d, name + "_int8.cvimodel"), "wb") as f:
            f.write(rnd)
        lines = ["[basic]", "type = cvimodel", f"model = {name}_int8.cvimodel", "",
                 "[extra]", "model_type = yolov8", "input_type = rgb",
                 "mean = 0, 0, 0", "scale = 0.00392156862745098, 0.00392156862745098, 0.00392156862745098",
                 "labels = person, car"]
        for k, v in (extra or {}).items():
            lines.append(f"{k} = {v}")
        with open(os.path.join(d, name + ".mud"), "w") as f:
            f.write("\n".join(lines) + "\n")
    elif target == "metis":
        # The bundle conversion/recipe_metis.c makes (voyager-sdk v1.2.5):
        # the network YAML at ax_models/kiln/network.yaml, labels.yaml and
        # deploy.py's build tree build/<name>/<name>/{model_info.json,
        # <cores>/{model.json, manifest.json, compile_config.json}}; the
        # compiled model.json stands in as the payload.
        net = os.path.join(d, "ax_models", "kiln")
        os.makedirs(net)
        with open(os.path.join(net, "network.yaml"), "w") as f:
            f.write("axelera-model-format: 1.0.0\n"
                    f"name: \"{name}\"\ndescription: \"{name}, converted by Kiln\"\n"
                    f"pipeline:\n  - \"{name}\":\n      model_name: \"{name}\"\n"
                    "      input:\n        type: image\n"
                    f"models:\n  \"{name}\":\n    class: AxONNXModel\n"
                    "    task_category: ObjectDetection\n    input_tensor_layout: NCHW\n"
                    "    input_tensor_shape: [1, 3, 640, 640]\n    input_color_format: RGB\n"
                    "    dataset: calibration\n    extra_kwargs:\n      max_compiler_cores: 1\n"
                    "datasets:\n  calibration:\n    class: DataAdapter\n"
                    "    labels_path: \"../../labels.yaml\"\n")
        with open(os.path.join(d, "labels.yaml"), "w") as f:
            f.write("names:\n  - \"person\"\n  - \"car\"\n")
        mdir = os.path.join(d, "build", name, name)
        sub = os.path.join(mdir, "1")
        os.makedirs(sub)
        with open(os.path.join(sub, "model.json"), "wb") as f:
            f.write(rnd)
        with open(os.path.join(sub, "manifest.json"), "w") as f:
            json.dump({"input_shapes": [[1, 640, 640, 4]], "quantize_params": [],
                       "dequantize_params": [], "model_lib_file": "model.json"}, f)
        with open(os.path.join(sub, "compile_config.json"), "w") as f:
            json.dump({}, f)
        with open(os.path.join(mdir, "model_info.json"), "w") as f:
            json.dump({"name": name, "task_category": "ObjectDetection"}, f)
    elif target == "axera-pi":
        with open(os.path.join(d, name + ".joint"), "wb") as f:
            f.write(rnd)
    return d


def add_bundle(kilnd, bundle_dir, name, target):
    out = subprocess.run([BUNDLE_ADD, kilnd.data, bundle_dir, name, target],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("bundle_add failed: " + out.stderr.strip())
    return json.loads(out.stdout)


def blob_path(kilnd, sha):
    return os.path.join(kilnd.data, "blobs", "sha256", sha[:2], sha)


def busybox_board(root, with_curl=True):
    """A bin directory with only busybox applets (and curl unless with_curl
    is false): the userland a MaixCAM-class board has, so kiln-pull.sh is run
    the way it runs there."""
    bb = shutil.which("busybox")
    if bb is None:
        return None
    # Its own directory per flavour, so a curl-less board never sees curl.
    bindir = os.path.join(root, "board-bin" if with_curl else "board-bin-wget")
    os.makedirs(bindir, exist_ok=True)
    for applet in ("sh", "cat", "cut", "tr", "grep", "sed", "tail", "wc", "cp", "mv", "rm",
                   "mkdir", "kill", "sha256sum", "tar", "gzip", "printf", "echo", "wget",
                   "ls", "head", "rmdir"):
        p = os.path.join(bindir, applet)
        if not os.path.exists(p):
            os.symlink(bb, p)
    if with_curl:
        p = os.path.join(bindir, "curl")
        if not os.path.exists(p):
            os.symlink(shutil.which("curl"), p)
    return bindir


def run_pull(bindir, url, token, models, state=None, extra_env=None):
    env = {"PATH": bindir, "KILN_URL": url, "KILN_TOKEN": token, "KILN_MODELS_DIR": models,
           "KILN_PULL_CONF": "/nonexistent", "KILN_TIMEOUT": "60"}
    if state:
        env["KILN_STATE_DIR"] = state
    env.update(extra_env or {})
    return subprocess.run([os.path.join(bindir, "sh"), PULL_SH], env=env, capture_output=True,
                          text=True, timeout=120)


def jpeg(path, w=320, h=240):
    """A plain test picture (grey with a lighter square)."""
    from PIL import Image
    img = Image.new("RGB", (w, h), (90, 90, 90))
    for y in range(h // 3, 2 * h // 3):
        for x in range(w // 3, 2 * w // 3):
            img.putpixel((x, y), (200, 200, 200))
    img.save(path, "JPEG", quality=90)
    with open(path, "rb") as f:
        return f.read()


def adb_device(adb_root, serial):
    """A device for the adb double (board/adb): $KILN_ADB_ROOT/<serial> as
    the device's root filesystem, with a busybox userland in /bin (as
    busybox_board has, but copied in so it works chrooted) and the device
    doubles that are shell scripts in /usr/local/bin.  Returns the device
    root, or None without busybox."""
    bb = shutil.which("busybox")
    if bb is None:
        return None
    root = os.path.join(adb_root, serial)
    bindir = os.path.join(root, "bin")
    os.makedirs(bindir, exist_ok=True)
    shutil.copy(bb, os.path.join(bindir, "busybox"))
    for applet in ("sh", "cat", "cut", "tr", "grep", "sed", "tail", "wc", "cp", "mv", "rm",
                   "mkdir", "sha256sum", "tar", "gzip", "printf", "echo", "ls", "head",
                   "rmdir", "awk", "[", "test", "basename", "dirname", "touch"):
        p = os.path.join(bindir, applet)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    local = os.path.join(root, "usr", "local", "bin")
    os.makedirs(local, exist_ok=True)
    for double in ("run_joint", "sscma-model"):
        shutil.copy(os.path.join(DOUBLES, double), os.path.join(local, double))
    return root


SSHD = "/usr/sbin/sshd"


class SshBoard:
    """Debian's sshd -D on 127.0.0.1:<free port> playing the board: a
    throwaway host key, an authorized_keys file tests append the device's
    key to, and the device doubles (tests/deploy/board) on its PATH /
    PYTHONPATH.  Ready when sshd logs 'Server listening' (no sleeping)."""

    def __init__(self, root, keys_command=None):
        """keys_command: an sshd AuthorizedKeysCommand (absolute path and
        arguments) consulted besides the authorized_keys file."""
        self.dir = os.path.join(root, "board")
        os.makedirs(self.dir, exist_ok=True)
        self.models = os.path.join(self.dir, "models")
        self.hostkey = os.path.join(self.dir, "host_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey],
                       check=True)
        self.auth = os.path.join(self.dir, "authorized_keys")
        open(self.auth, "w").close()
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        cfg = os.path.join(self.dir, "sshd_config")
        with open(cfg, "w") as f:
            f.write(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.hostkey}
AuthorizedKeysFile {self.auth}
PidFile {self.dir}/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv PATH={DOUBLES}:/usr/bin:/bin PYTHONPATH={DOUBLES}/maixpy
""")
            if keys_command:
                f.write(f"AuthorizedKeysCommand {keys_command}\nAuthorizedKeysCommandUser root\n")
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", cfg], stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        for line in self.proc.stderr:
            if "Server listening" in line:
                break
        else:
            raise RuntimeError("sshd did not start")

    def authorize(self, pub):
        with open(self.auth, "a") as f:
            f.write(pub + "\n")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
