#!/usr/bin/env python3
"""DOUBLE of the Voyager SDK's ./inference.py on a Metis host (see README.md):
same arguments as Kiln's test program uses (inference.py MODEL.json IMAGE
--no-display); reads the model.json pipeline and requires the model file it
names (relative to the bundle root, as deploy.py's build tree lays it out:
<name>/<cores>/model.json next to model.axmodel).  No AIPU behind it."""
import json
import os
import sys


def main():
    args = sys.argv[1:]
    if "--no-display" not in args:
        print("inference.py (double): no display on a headless board; pass --no-display",
              file=sys.stderr)
        return 2
    pos = [a for a in args if not a.startswith("--")]
    if len(pos) != 2:
        print("usage: inference.py MODEL.json SOURCE --no-display", file=sys.stderr)
        return 2
    mj, src = pos
    try:
        with open(mj) as f:
            net = json.load(f)
    except (OSError, ValueError) as e:
        print(f"inference.py (double): cannot load {mj}: {e}", file=sys.stderr)
        return 1
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(mj))))
    model = os.path.join(root, net.get("model", ""))
    if not net.get("model") or not os.path.isfile(model):
        print(f"inference.py (double): model file {net.get('model')!r} not found under {root}",
              file=sys.stderr)
        return 1
    with open(src, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            print(f"inference.py (double): {src} is not a JPEG", file=sys.stderr)
            return 1
    print(f"inference.py (kiln device double): network={net.get('name')} model={model} source={src}")
    print("System fps: 312.4 (made up)")
    return 0


sys.exit(main())
