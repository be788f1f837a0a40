"""Calibration sets over real HTTP: an archive of real photos (python3-skimage's
samples, re-encoded as JPEG with PIL) plus the junk people's folders carry
(.DS_Store, __MACOSX/, a text file named .jpg, skimage's real truncated.jpg,
a ../ path) is accepted with every dropped entry named and its reason; the
contact sheet is a JPEG; bombs and non-archives are refused as a whole and
store nothing; delete frees the blobs.  The upload answers 202 and the
ingest runs off the HTTP threads: the record goes "ingesting" (progress
0..1) -> "ready" | "rejected", followed here with GET ?wait=60."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx_fixtures as F  # noqa: E402
import jsonschema  # noqa: E402
from kiln_server import Kilnd  # noqa: E402
from PIL import Image  # noqa: E402
import skimage  # noqa: E402

R = F.Report("test_datasets_http")
with open(os.path.join(HERE, "..", "..", "schema", "dataset.schema.json")) as _f:
    SCHEMA = json.load(_f)


def valid(rec):
    jsonschema.validate(rec, SCHEMA)
    return rec
DATA = os.path.join(os.path.dirname(skimage.__file__), "data")


def photos():
    out = []
    for name in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png"):
        p = os.path.join(DATA, name)
        if not os.path.exists(p):
            continue
        buf = io.BytesIO()
        Image.open(p).convert("RGB").save(buf, "JPEG", quality=90)
        out.append((name.rsplit(".", 1)[0] + ".jpg", buf.getvalue()))
    return out


def tar_gz(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def blob_files(k):
    n = 0
    for _, _, files in os.walk(os.path.join(k.data, "blobs", "sha256")):
        n += len(files)
    return n


def main():
    k = Kilnd("[limits]\ndataset_total_bytes = 64M\n")
    try:
        good = photos()
        with open(os.path.join(DATA, "truncated.jpg"), "rb") as f:
            truncated = f.read()
        junk = [(".DS_Store", b"\0\0\0\1Bud1"), ("__MACOSX/._astronaut.jpg", b"\0\5\26\7"),
                ("notes.jpg", b"this is text, not a picture\n"), ("broken/truncated.jpg", truncated),
                ("../../escape.jpg", good[0][1])]

        def upload_report():
            body = tar_gz(good + junk)
            st, first, rec = k.upload_dataset("coco-bits", body)
            assert st == 202, (st, first)
            assert first["state"] == "ingesting" and 0 <= first["progress"] < 1, first
            valid(first)
            valid(rec)
            assert rec["state"] == "ready" and rec["progress"] == 1, rec
            assert rec["error"] is None, rec
            assert rec["images"] == len(good), rec["images"]
            rejected = {r["entry"]: r["reason"] for r in rec["rejected"]}
            for name, _ in junk:
                assert name in rejected, (name, rejected)
            assert "truncat" in rejected["broken/truncated.jpg"] or \
                "corrupt" in rejected["broken/truncated.jpg"], rejected["broken/truncated.jpg"]
            assert rec["stats"]["formats"]["jpeg"] == len(good)
            assert len(rec["image_list"]) == len(good)
            st, got = k.json("GET", f"/api/v1/datasets/{rec['id']}")
            assert st == 200 and [i["sha256"] for i in got["image_list"]] == \
                [i["sha256"] for i in rec["image_list"]]
            st, hdrs, jpeg = k.request("GET", f"/api/v1/datasets/{rec['id']}/thumbs")
            assert st == 200 and jpeg[:3] == b"\xff\xd8\xff", (st, jpeg[:20])
            sheet = Image.open(io.BytesIO(jpeg))
            assert sheet.width >= 128 and sheet.height >= 128
            # The gallery's images (issue 17): image n of image_list, from 1,
            # is the stored JPEG, its sha256 and size as the list says.
            for n, im in enumerate(rec["image_list"], 1):
                st, hdrs, one = k.request("GET", f"/api/v1/datasets/{rec['id']}/images/{n}")
                assert st == 200 and hashlib.sha256(one).hexdigest() == im["sha256"], (n, st)
                assert hdrs.get("content-type", hdrs.get("Content-Type")) == "image/jpeg", hdrs
                assert Image.open(io.BytesIO(one)).size == (im["width"], im["height"]), n
            for bad in (len(good) + 1, 0, "x"):
                st, _, body = k.request("GET", f"/api/v1/datasets/{rec['id']}/images/{bad}")
                assert st == 404 and b'"field":"n"' in body, (bad, st, body[:200])
            # Delete: every blob goes (nothing else names them).
            before = blob_files(k)
            assert before >= len(good) + 1
            st, _, _ = k.request("DELETE", f"/api/v1/datasets/{rec['id']}")
            assert st == 204
            assert blob_files(k) == 0, blob_files(k)
        R.check("archive_with_junk_keeps_photos_and_names_each_rejection", upload_report)

        def zip_upload():
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for name, data in good[:2]:
                    z.writestr("phone/" + name, data)
            st, first, rec = k.upload_dataset("phone", buf.getvalue(), "application/zip")
            assert st == 202, (st, first)
            assert rec["state"] == "ready" and rec["images"] == 2, rec
        R.check("zip_from_a_phone_is_accepted", zip_upload)

        def refused(name, body, status, field):
            def run():
                n = blob_files(k)
                st, lst = k.json("GET", "/api/v1/datasets?limit=1000")
                st, first, rec = k.upload_dataset("bad", body)
                assert st == 202, (st, first)
                # The refusal is the record's final state, with the status
                # the synchronous upload used to answer with.
                assert rec["state"] == "rejected", rec
                valid(rec)
                err = rec["error"]
                assert err["status"] == status, err
                assert err["field"] in field.split("|"), err
                assert rec["images"] == 0 and rec["sha256"] is None, rec
                assert blob_files(k) == n, "blobs were stored"
                st, lst2 = k.json("GET", "/api/v1/datasets?limit=1000")
                assert len(lst2["items"]) == len(lst["items"]) + 1
                st, _, _ = k.request("DELETE", f"/api/v1/datasets/{rec['id']}")
                assert st == 204, st
                st, lst3 = k.json("GET", "/api/v1/datasets?limit=1000")
                assert len(lst3["items"]) == len(lst["items"])
            R.check(name, run)

        # 1 GiB of zeros in a ~1 MB gzip, as ten 100 MiB entries (each under
        # the per-entry bound): refused as a whole by the inflation bounds.
        class Zeros(io.RawIOBase):
            def __init__(self, n):
                self.left = n

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        bomb = io.BytesIO()
        with tarfile.open(fileobj=bomb, mode="w:gz") as t:
            for i in range(10):
                ti = tarfile.TarInfo(f"zeros{i}.jpg")
                ti.size = 100 << 20
                t.addfile(ti, io.BufferedReader(Zeros(100 << 20), 1 << 20))
        refused("gzip_bomb_is_refused_whole", bomb.getvalue(), 413, "max_ratio|total_bytes")
        refused("text_file_is_not_an_archive", b"hello, these are not images\n" * 10, 422,
                "archive")
        refused("archive_without_images_is_refused", tar_gz(junk), 422, "images")
        half = tar_gz(good)
        refused("upload_cut_half_way_is_refused", half[: len(half) // 2], 422, "archive")

        def bad_waits():
            # ?wait= of datasets and deployments: one rule (routes_get_settled)
            st, sets = k.json("GET", "/api/v1/datasets")
            ds = sets["items"][0]["id"]
            for path in (f"/api/v1/datasets/{ds}", "/api/v1/deployments/1"):
                for w in ("61", "-1", "x", ""):
                    st, r = k.json("GET", f"{path}?wait={w}")
                    assert st == 400 and r["error"]["field"] == "wait", (path, w, st, r)
                    assert r["error"]["message"] == "wait must be 0-60 seconds", r
            st, r = k.json("GET", f"/api/v1/datasets/{ds}?wait=0")
            assert st == 200 and r["id"] == ds, r
        R.check("a_wait_outside_0_60_seconds_is_400", bad_waits)
    finally:
        k.stop_reported(R)
    R.done()


main()
