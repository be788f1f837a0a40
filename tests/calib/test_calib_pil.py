"""test_calib_pil: calibration sets checked against PIL, the reference most
users' Python preprocessing is written with.

Runs build/tools/calib (tests/tools/calib.c) on inputs PIL and Python's own
tarfile/zipfile make: Adobe CMYK JPEGs as PIL writes them, all eight EXIF
orientations against ImageOps.exif_transpose, the letterbox against PIL's
draft + BILINEAR resize, exports read back with tarfile and numpy, and a
zip made by zipfile with hostile names.  Run with Debian's /usr/bin/python3;
prints PASS/FAIL/SKIP lines for tests/run.sh.
"""
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import traceback
import zipfile

BUILD = os.environ.get("KILN_BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, BUILD, "tools", "calib")
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"

try:
    import numpy as np
    from PIL import Image, ImageOps
except ImportError as e:  # python3-pil / python3-numpy missing
    print("SKIP test_calib_pil: %s (make test-deps)" % e)
    sys.exit(0)


def tool(*args, stdin=None):
    p = subprocess.run([TOOL] + [str(a) for a in args], input=stdin, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def ingest(archive, data):
    rc, out, err = tool("ingest", archive, data, "--threads", "2")
    return rc, (json.loads(out) if out.strip() else None), err


def blob(data, sha):
    return os.path.join(data, "blobs", "sha256", sha[:2], sha)


def pattern(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // w, y * 255 // h, (x * 3 + y * 5) % 256], axis=-1)
    return Image.fromarray(a.astype(np.uint8), "RGB")


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def mean_diff(a, b):
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def t_cmyk_jpeg_matches_pil(tmp):
    src = pattern(64, 48).convert("CMYK")
    data = jpeg_bytes(src, quality=95)
    arc = os.path.join(tmp, "c.tar")
    with tarfile.open(arc, "w") as t:
        info = tarfile.TarInfo("cmyk.jpg")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    rc, res, err = ingest(arc, os.path.join(tmp, "d"))
    assert rc == 0, err
    ours = Image.open(blob(os.path.join(tmp, "d"), res["images"][0]["sha256"])).convert("RGB")
    ref = Image.open(io.BytesIO(data)).convert("RGB")
    d = mean_diff(ours, ref)
    assert d < 4, "CMYK differs from PIL by %.2f on average" % d


def t_all_eight_exif_orientations_match_exif_transpose(tmp):
    base = pattern(60, 40)
    arc = os.path.join(tmp, "o.zip")
    refs = {}
    with zipfile.ZipFile(arc, "w") as z:
        for o in range(1, 9):
            exif = Image.Exif()
            exif[0x0112] = o
            data = jpeg_bytes(base, quality=95, exif=exif.tobytes(), subsampling=0)
            z.writestr("o%d.jpg" % o, data)
            refs["o%d.jpg" % o] = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    rc, res, err = ingest(arc, os.path.join(tmp, "d"))
    assert rc == 0, err
    assert res["count"] == 8, res
    for im in res["images"]:
        ours = Image.open(blob(os.path.join(tmp, "d"), im["sha256"])).convert("RGB")
        ref = refs[im["entry"]]
        assert ours.size == ref.size, "%s: %s vs %s" % (im["entry"], ours.size, ref.size)
        d = mean_diff(ours, ref)
        assert d < 3, "%s differs from exif_transpose by %.2f" % (im["entry"], d)


def t_letterbox_matches_pil_draft_bilinear(tmp):
    if not os.path.exists(os.path.join(SKIMAGE, "rocket.jpg")):
        raise Skip("python3-skimage is not installed")
    photos = os.path.join(tmp, "p")
    os.makedirs(photos)
    for name in ("rocket.jpg", "retina.jpg", "hubble_deep_field.jpg"):
        shutil.copy(os.path.join(SKIMAGE, name), photos)
    out = os.path.join(tmp, "o")
    os.makedirs(out)
    rc, so, err = tool("letterbox", 640, 640, photos, "--out", out)
    assert rc == 0, err
    for name in sorted(os.listdir(photos)):
        ours = np.fromfile(os.path.join(out, name + ".rgb"), np.uint8).reshape(640, 640, 3)
        im = Image.open(os.path.join(photos, name))
        w, h = im.size
        s = min(640 / w, 640 / h)
        nw, nh = round(w * s), round(h * s)
        im.draft("RGB", (nw, nh))
        im = im.convert("RGB").resize((nw, nh), Image.BILINEAR)
        ref = Image.new("RGB", (640, 640), (114, 114, 114))
        ref.paste(im, ((640 - nw) // 2, (640 - nh) // 2))
        d = mean_diff(ours, ref)
        assert d < 1.0, "%s: letterbox differs from PIL by %.2f" % (name, d)


def t_zipfile_with_hostile_names_writes_nothing_outside(tmp):
    work = os.path.join(tmp, "w")
    os.makedirs(work)
    good = jpeg_bytes(pattern(32, 32))
    arc = os.path.join(work, "h.zip")
    with zipfile.ZipFile(arc, "w") as z:
        z.writestr("../../x.jpg", good)
        z.writestr("/etc/x.jpg", good)
        z.writestr("ok/good.jpg", good)
        z.writestr("Thumbs.db", b"x")
        z.writestr("fake.jpg", b"just text, honestly")
    before = set(os.listdir(tmp)) | set(os.listdir(work))
    rc, res, err = ingest(arc, os.path.join(work, "d"))
    assert rc == 0, err
    reasons = {r["entry"]: r["reason"] for r in res["rejected"]}
    assert ".." in reasons["../../x.jpg"], reasons
    # zipfile itself strips the leading slash of absolute names
    assert "/etc/x.jpg" in reasons or "etc/x.jpg" in [i["entry"] for i in res["images"]] \
        or "etc/x.jpg" in reasons, reasons
    assert "system" in reasons["Thumbs.db"]
    assert "not a JPEG" in reasons["fake.jpg"]
    after = set(os.listdir(tmp)) | set(os.listdir(work))
    assert after - before == {"d"}, after - before
    assert not os.path.exists("/etc/x.jpg") and not os.path.exists(os.path.join(tmp, "x.jpg"))


def t_exports_read_back_with_tarfile_and_numpy(tmp):
    arc = os.path.join(tmp, "s.tar.gz")
    with tarfile.open(arc, "w:gz") as t:
        for i in range(6):
            data = jpeg_bytes(pattern(100 + 10 * i, 50))
            info = tarfile.TarInfo("img%d.jpg" % i)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    data_dir = os.path.join(tmp, "d")
    rc, res, err = ingest(arc, data_dir)
    assert rc == 0, err
    shas = "".join(i["sha256"] + "\n" for i in res["images"])
    tar = os.path.join(tmp, "calib.tar")
    rc, out, err = tool("materialize", data_dir, tar, "tar", 4, 1, 32, 32, "letterbox", "--npy",
                        stdin=shas)
    assert rc == 0, err
    with tarfile.open(tar) as t:
        names = t.getnames()
        assert len(names) == 4 and all(n.endswith(".npy") for n in names), names
        a = np.load(io.BytesIO(t.extractfile(names[0]).read()))
    assert a.shape == (1, 3, 32, 32) and a.dtype == np.float32, (a.shape, a.dtype)
    assert abs(a[0, 0, 0, 0] - 114 / 255) < 1e-5, a[0, 0, 0, 0]   # letterbox border
    assert 0.0 <= a.min() and a.max() <= 1.0
    d = os.path.join(tmp, "dir")
    rc, out, err = tool("materialize", data_dir, d, "dir", 0, 0, stdin=shas)
    assert rc == 0, err
    files = sorted(os.listdir(d))
    assert len(files) == 6 and all(f.endswith(".jpg") for f in files), files
    for f in files:
        Image.open(os.path.join(d, f)).verify()
    sheet = os.path.join(tmp, "sheet.jpg")
    rc, out, err = tool("sheet", data_dir, sheet, stdin=shas)
    assert rc == 0, err
    assert Image.open(sheet).size == (3 * 128, 2 * 128)


class Skip(Exception):
    pass


def main():
    if not os.access(TOOL, os.X_OK):
        print("SKIP test_calib_pil: %s is not built (make tests-build)" % TOOL)
        return 0
    tests = [(n[2:], f) for n, f in sorted(globals().items()) if n.startswith("t_")]
    failed = 0
    for name, fn in tests:
        tmp = tempfile.mkdtemp(prefix="kt-calib-")
        try:
            fn(tmp)
            print("PASS test_calib_pil.%s" % name)
        except Skip as e:
            print("SKIP test_calib_pil.%s: %s" % (name, e))
        except Exception as e:
            failed += 1
            print("FAIL test_calib_pil.%s: %s" % (name, str(e).replace("\n", " ")[:300]))
            traceback.print_exc(file=sys.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
