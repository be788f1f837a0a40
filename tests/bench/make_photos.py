"""Makes the calibration benchmark's photographs (run with /usr/bin/python3).

usage: make_photos.py OUTDIR COUNT

COUNT JPEGs, half at 1920x1080 and half at 4000x3000, from the real
photographs python3-skimage ships (astronaut, chelsea, coffee, rocket, the
motorcycle pair, retina, the Hubble deep field, and the greyscale camera,
coins, moon, grass, gravel and brick shots).  Each is a seeded random crop at
the target aspect, resized with Lanczos, mirrored half the time, with mild
sensor-like noise added: upscaled small photos are unnaturally smooth, and
JPEG decoding cost depends on how much detail the entropy coder has to
carry, so without noise the benchmark would flatter every decoder.  Saved at
quality 92 with 4:2:0 chroma, as phone cameras do.  Deterministic: the same
COUNT gives the same files.
"""
import os
import sys

import numpy as np
from PIL import Image
from skimage import data

COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left",
          "motorcycle_right", "retina", "hubble_deep_field"]
GREY = ["camera", "coins", "moon", "grass", "gravel", "brick"]
SIZES = [(1920, 1080), (4000, 3000)]


def sources():
    out = []
    for name in COLOUR + GREY:
        fn = getattr(data, name, None)
        if fn is None:
            continue
        try:
            a = fn()
        except Exception:  # a sample missing from this skimage build
            continue
        img = Image.fromarray(a)
        out.append(img.convert("RGB"))
    return out


def main():
    outdir, count = sys.argv[1], int(sys.argv[2])
    os.makedirs(outdir, exist_ok=True)
    srcs = sources()
    rng = np.random.default_rng(1234)
    noise = {}
    for w, h in SIZES:
        noise[(w, h)] = rng.normal(0, 2.5, (h + 32, w + 32, 3)).astype(np.int16)
    for i in range(count):
        w, h = SIZES[i % 2]
        src = srcs[(i // 2) % len(srcs)]
        sw, sh = src.size
        # Largest crop of the target aspect, shrunk by a random factor.
        cw = min(sw, int(sh * w / h))
        ch = int(cw * h / w)
        f = rng.uniform(0.7, 1.0)
        cw, ch = max(16, int(cw * f)), max(16, int(ch * f))
        x = int(rng.integers(0, sw - cw + 1))
        y = int(rng.integers(0, sh - ch + 1))
        img = src.crop((x, y, x + cw, y + ch)).resize((w, h), Image.LANCZOS)
        if rng.integers(0, 2):
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(img).astype(np.int16)
        ox, oy = int(rng.integers(0, 32)), int(rng.integers(0, 32))
        a += noise[(w, h)][oy:oy + h, ox:ox + w]
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        img.save(os.path.join(outdir, "photo_%04d_%dx%d.jpg" % (i, w, h)),
                 quality=92, subsampling="4:2:0")
    print("made %d photos in %s" % (count, outdir))


if __name__ == "__main__":
    main()
