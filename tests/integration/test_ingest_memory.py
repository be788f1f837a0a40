"""Memory of a dataset ingest (issue 14): a calibration set of 50-megapixel
PNGs (the most [limits] image_pixels allows) must not take kilnd past
256 MB.  A PNG was decoded whole before it was shrunk to 1024 px, 150 MB of
RGB on each decoding thread (one per CPU), 352 MB on a 2-CPU machine; now
its rows stream through the resize.

The issue's attack was 4 uploads of 100 blank 50-MP PNGs; here 2 uploads
of 6 (every decoding thread gets several), one after the other as
[server] ingest_threads = 1 runs them.  The figure is kilnd's VmHWM from
/proc/<pid>/status after the sets are ready: a peak, not a timing.  The
images must still come out as they did: every one kept, the contact sheet
the greys they started as.
"""
import io
import json
import os
import sys
import struct
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402
from PIL import Image  # noqa: E402

R = F.Report("test_ingest_memory")
LIMIT_KB = 256 * 1024
W, H = 8660, 5773          # 49,994,180 pixels: under the 50,000,000 default


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(grey):
    """A W x H RGB PNG of one grey, encoded row by row (PIL takes ~7 s)."""
    row = b"\0" + bytes([grey]) * (3 * W)
    z = zlib.compressobj(1)
    idat = b"".join(z.compress(row) for _ in range(H)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def archive(n):
    """n blank PNGs, each its own grey (a set refuses duplicates)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for i in range(n):
            png = blank_png(125 + i)
            ti = tarfile.TarInfo(f"big/{i:03d}.png")
            ti.size = len(png)
            t.addfile(ti, io.BytesIO(png))
    return out.getvalue()


def main():
    k = Kilnd("")
    try:
        body = archive(6)

        def ingest_of_50_mp_pngs_stays_under_256_mb():
            base = status_kb(k.proc.pid, "VmHWM")
            ids = []
            for i in range(2):
                st, _, data = k.request("POST", f"/api/v1/datasets?name=big{i}", body,
                                        "application/x-tar")
                assert st == 202, (st, data[:300])
                ids.append(json.loads(data)["id"])
            for did in ids:
                rec = {"state": "ingesting"}
                while rec["state"] == "ingesting":
                    st, rec = k.json("GET", f"/api/v1/datasets/{did}?wait=60")
                assert rec["state"] == "ready" and rec["images"] == 6, rec
            peak = status_kb(k.proc.pid, "VmHWM")
            print(f"INFO kilnd peak RSS over 2 ingests of 6 PNGs of {W}x{H} on "
                  f"{os.cpu_count()} CPUs: {peak / 1024:.0f} MB (at start {base / 1024:.0f} MB)",
                  flush=True)
            assert peak < LIMIT_KB, f"VmHWM {peak} KB, over {LIMIT_KB} KB"
            st, _, sheet = k.request("GET", f"/api/v1/datasets/{ids[0]}/thumbs")
            assert st == 200, st
            st, rec = k.json("GET", f"/api/v1/datasets/{ids[0]}")
            w = rec["stats"]["width"]
            assert w["max"] == W and w["min"] == W, rec["stats"]
            img = Image.open(io.BytesIO(sheet)).convert("L")
            grey = sum(n for v, n in enumerate(img.histogram()) if 120 <= v <= 136)
            assert grey >= 6 * 1000, f"{grey} grey pixels in the sheet"
        R.check("ingest_of_50_megapixel_pngs_keeps_kilnd_under_256_mb",
                ingest_of_50_mp_pngs_stays_under_256_mb)
    finally:
        k.stop_reported(R)
    R.done()


main()
