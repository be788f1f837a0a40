"""Writes fuzz_onnx's seed corpus: the small models of Debian's
libonnx-testdata (real files no one here wrote), at most 200 of them, and
the test fixtures shaped like Ultralytics heads (YOLOv5, YOLOv8/YOLO11
detect, pose and seg, a classifier), so the suggestion and per-board code
starts from graphs it recognises."""
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx"))
import onnx_fixtures as F  # noqa: E402

for name, build in (("yolov5", F.yolov5), ("classifier", F.classifier),
                    ("yolov8", F.yolov8), ("yolo11", lambda: F.yolov8(eleven=True)),
                    ("yolo11_pose", lambda: F.yolov8(eleven=True, task="pose")),
                    ("yolov8_seg", lambda: F.yolov8(task="seg"))):
    F.save(build(), os.path.join(out, f"fixture_{name}.onnx"))
