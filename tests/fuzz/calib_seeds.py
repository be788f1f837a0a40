"""Seed corpus for the calib fuzz targets (run with /usr/bin/python3).

usage: calib_seeds.py archive|image OUTDIR

image: small JPEGs (baseline, progressive, grey, CMYK, with EXIF
orientation) and PNGs (RGB, 16-bit, palette, grey+alpha, interlaced).
archive: tar, tar.gz, tar.bz2, tar.xz and zip holding some of those, plus a
symlink, a directory and a traversal name.  Small on purpose: the fuzzer
mutates faster from small inputs.
"""
import io
import os
import sys
import tarfile
import zipfile

from PIL import Image


def images():
    base = Image.new("RGB", (24, 16))
    for x in range(24):
        for y in range(16):
            base.putpixel((x, y), (x * 10, y * 15, (x * y) % 256))
    out = {}

    def save(name, im, **kw):
        b = io.BytesIO()
        im.save(b, **kw)
        out[name] = b.getvalue()

    save("base.jpg", base, format="JPEG", quality=80)
    save("prog.jpg", base, format="JPEG", progressive=True)
    save("grey.jpg", base.convert("L"), format="JPEG")
    save("cmyk.jpg", base.convert("CMYK"), format="JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6
    save("rot6.jpg", base, format="JPEG", exif=exif.tobytes())
    save("rgb.png", base, format="PNG")
    save("grey16.png", base.convert("L").convert("I").point(lambda v: v * 256), format="PNG")
    save("pal.png", base.convert("P"), format="PNG")
    save("la.png", base.convert("LA"), format="PNG")
    save("inter.png", base, format="PNG", interlace=1)
    return out


def main():
    kind, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    imgs = images()
    if kind == "image":
        for name, data in imgs.items():
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
        return
    few = {k: imgs[k] for k in ("base.jpg", "pal.png", "rot6.jpg")}
    for mode, ext in (("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")):
        with tarfile.open(os.path.join(outdir, "seed." + ext), mode) as t:
            d = tarfile.TarInfo("dir/")
            d.type = tarfile.DIRTYPE
            t.addfile(d)
            s = tarfile.TarInfo("link")
            s.type = tarfile.SYMTYPE
            s.linkname = "/etc"
            t.addfile(s)
            for name, data in few.items():
                info = tarfile.TarInfo("dir/" + name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("../up.jpg")
            info.size = len(few["base.jpg"])
            t.addfile(info, io.BytesIO(few["base.jpg"]))
    with zipfile.ZipFile(os.path.join(outdir, "seed.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in few.items():
            z.writestr("imgs/" + name, data)
        z.writestr("__MACOSX/._x.jpg", b"\0\5\26\7")


if __name__ == "__main__":
    main()
