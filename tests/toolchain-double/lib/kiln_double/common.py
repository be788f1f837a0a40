"""Shared helpers of the Kiln toolchain double (tests/toolchain-double/).

Everything here serves tests only: the programs in ../../bin imitate the
command-line contracts of the vendor toolchains (see ../../README.md) and
write small files clearly marked as simulated.
"""
import datetime
import hashlib
import io
import json
import os
import signal
import sys
import tarfile
import time
import zipfile

MARKER = "KILN-TOOLCHAIN-DOUBLE"

# ---------------------------------------------------------------------------
# Failure injection (environment variables, see README.md)
# ---------------------------------------------------------------------------


def _env_list(name):
    v = os.environ.get(name, "").strip()
    if not v:
        return []
    return [x.strip() for x in v.split(",") if x.strip()]


def env_matches(name, tool, qualifier=None):
    """True when env var `name` names this tool.

    The value is a comma list; each item is `tool` (any run of it) or
    `tool:qualifier` (only runs whose qualifier matches, case-insensitive:
    model_deploy:INT8, pulsar2:NPU1, pulsar:run, deploy.py:yolov5s ...).
    `model_deploy` and `model_deploy.py` name the same program.
    """
    tool = tool[:-3] if tool.endswith(".py") and tool != "deploy.py" else tool
    for item in _env_list(name):
        t, _, q = item.partition(":")
        if t.endswith(".py") and t != "deploy.py":
            t = t[:-3]
        if t in ("1", "all", "*"):
            t = tool
        if t != tool:
            continue
        if not q or (qualifier is not None and q.lower() == str(qualifier).lower()):
            return True
    return False


def low_cosine_for(tool, output_name, qualifier=None):
    """KILN_DOUBLE_LOW_COSINE=<output name | 1>[,...]; an item may be
    prefixed `tool:` to restrict it to one program (model_deploy:1,
    pulsar:536)."""
    for item in _env_list("KILN_DOUBLE_LOW_COSINE"):
        t, sep, rest = item.partition(":")
        if sep and t.replace(".py", "") in (
                "model_transform", "model_deploy", "run_qtable", "run_calibration",
                "pulsar2", "pulsar", "deploy", "axcompile"):
            if t.replace(".py", "") != tool.replace(".py", ""):
                continue
            item = rest
        elif tool.replace(".py", "") == "model_transform":
            # an unprefixed item only hits the quantising steps; the float
            # transform check is hit only when named explicitly
            continue
        if item in ("1", "all", "*") or item == output_name:
            return True
    return False


def install_term_handling(tool, qualifier=None):
    if env_matches("KILN_DOUBLE_IGNORE_TERM", tool, qualifier):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def maybe_hang(tool, qualifier=None, say=None):
    """KILN_DOUBLE_HANG=<tool>: block forever (until killed)."""
    if not env_matches("KILN_DOUBLE_HANG", tool, qualifier):
        return
    install_term_handling(tool, qualifier)
    if say:
        say()
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        time.sleep(3600)


def crash_halfway(tool, qualifier, path, data):
    """KILN_DOUBLE_CRASH_HALFWAY=<tool>: write the first half of `data` to
    `path` (in place, as the real tools write) and die by a signal
    (SIGKILL unless KILN_DOUBLE_CRASH_SIGNAL names another, e.g. SEGV)."""
    if not env_matches("KILN_DOUBLE_CRASH_HALFWAY", tool, qualifier):
        return
    if isinstance(data, str):
        data = data.encode()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data[: max(1, len(data) // 2)])
        f.flush()
        os.fsync(f.fileno())
    sys.stdout.flush()
    sys.stderr.flush()
    signame = os.environ.get("KILN_DOUBLE_CRASH_SIGNAL", "KILL").upper()
    if not signame.startswith("SIG"):
        signame = "SIG" + signame
    sig = getattr(signal, signame, signal.SIGKILL)
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    time.sleep(10)
    os._exit(137)


# ---------------------------------------------------------------------------
# Deterministic figures
# ---------------------------------------------------------------------------


def unit(*parts):
    """A deterministic number in [0, 1) from the given parts."""
    h = hashlib.sha256("\0".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / float(1 << 64)


def between(lo, hi, *parts):
    return lo + (hi - lo) * unit(*parts)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inputs_digest(paths, extra=""):
    """sha256 over (name, sha256(content)) of each input plus `extra`."""
    h = hashlib.sha256()
    for p in paths:
        if p is None:
            continue
        h.update(os.path.basename(p).encode() + b"\0")
        if os.path.isfile(p):
            h.update(sha256_file(p).encode())
        elif os.path.isdir(p):
            for root, _dirs, files in sorted(os.walk(p)):
                for fn in sorted(files):
                    fp = os.path.join(root, fn)
                    h.update(os.path.relpath(fp, p).encode() + b"\0")
                    h.update(sha256_file(fp).encode())
        h.update(b"\n")
    h.update(extra.encode())
    return h.hexdigest()


def header_line(tool, version, digest, what):
    return "%s %s %s simulated=true inputs-sha256=%s what=%s" % (
        MARKER, tool, version, digest, what)


def write_text(path, text):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def model_blob(tool, version, digest, what, meta):
    """Body of a fake compiled model (cvimodel, axmodel, joint): a marker
    header line, then JSON metadata, then filler so it is not empty."""
    body = header_line(tool, version, digest, what) + "\n"
    body += json.dumps(meta, sort_keys=True) + "\n"
    body += ("# simulated model payload, not runnable on any device\n" * 8)
    return body.encode()


def read_marker(path):
    """Returns (header line, json meta) of a file written by the double,
    or (None, None)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(4096).decode("utf-8", "replace")
            second = f.readline(1 << 20).decode("utf-8", "replace")
    except OSError:
        return None, None
    first = first.strip()
    for prefix in ("", "// ", "# "):
        if first.startswith(prefix + MARKER):
            try:
                meta = json.loads(second.lstrip("/# ").strip())
            except ValueError:
                meta = None
            return first[len(prefix):], meta
    return None, None


# ---------------------------------------------------------------------------
# Images and archives
# ---------------------------------------------------------------------------

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".jfif")


def image_kind(data):
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    return None


def file_image_kind(path):
    try:
        with open(path, "rb") as f:
            return image_kind(f.read(16))
    except OSError:
        return None


def archive_members(path):
    """List of (name, first 16 bytes, reader) of regular files in a tar /
    tar.gz / tar.xz / zip archive; raises ValueError when `path` is not
    such an archive."""
    out = []
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tf:
            for m in tf.getmembers():
                if not m.isfile():
                    continue
                f = tf.extractfile(m)
                data = f.read() if f else b""
                out.append((m.name, data))
        return out
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                out.append((info.filename, zf.read(info)))
        return out
    raise ValueError("not a tar or zip archive: %s" % path)


def archive_images(path):
    """Image members (name, bytes) of an archive, by magic bytes."""
    return [(n, d) for (n, d) in archive_members(path) if image_kind(d[:16])]


# ---------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------


def load_onnx(path):
    import onnx  # Debian python3-onnx
    return onnx.load(path)


def onnx_io(model):
    """(inputs, outputs, producers): graph inputs (without initializers)
    as [(name, shape)], graph outputs as [(name, shape)], and a map
    tensor name -> producing node op_type."""
    init = {i.name for i in model.graph.initializer}

    def shape_of(vi):
        dims = []
        t = vi.type.tensor_type
        if t.HasField("shape"):
            for d in t.shape.dim:
                if d.HasField("dim_value"):
                    dims.append(int(d.dim_value))
                else:
                    dims.append(d.dim_param or "?")
        return dims

    inputs = [(i.name, shape_of(i)) for i in model.graph.input if i.name not in init]
    outputs = [(o.name, shape_of(o)) for o in model.graph.output]
    producers = {}
    for n in model.graph.node:
        for o in n.output:
            producers[o] = n.op_type
    shapes = {vi.name: shape_of(vi) for vi in model.graph.value_info}
    for name, shp in outputs:
        shapes[name] = shp
    return inputs, outputs, producers, shapes


# ---------------------------------------------------------------------------
# Tracebacks that look like Python's own
# ---------------------------------------------------------------------------


def py_traceback(frames, exc_line, out=None):
    """Print a Python-style traceback: frames = [(file, line, func, code)]."""
    out = out or sys.stderr
    out.write("Traceback (most recent call last):\n")
    for fn, ln, func, code in frames:
        out.write('  File "%s", line %d, in %s\n    %s\n' % (fn, ln, func, code))
    out.write(exc_line.rstrip("\n") + "\n")
    out.flush()


def now():
    return datetime.datetime.now()
