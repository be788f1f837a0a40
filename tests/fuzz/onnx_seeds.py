"""Writes fuzz_onnx's seed corpus: the small models of Debian's
libonnx-testdata (real files no one here wrote), at most 200 of them."""
import os
import shutil
import sys

out = sys.argv[1]
root = "/usr/share/libonnx-testdata/data"
n = 0
for dirpath, _, files in sorted(os.walk(root)):
    for f in files:
        p = os.path.join(dirpath, f)
        if f.endswith(".onnx") and os.path.getsize(p) < 64 * 1024 and n < 200:
            shutil.copy(p, os.path.join(out, f"seed{n:03d}.onnx"))
            n += 1
