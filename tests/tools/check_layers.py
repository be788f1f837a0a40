"""The layers, checked: every #include of a project header names its folder
("runtime/blob.h"), and no layer includes one above it.

    runtime     errors, sqlite, blobs, jobs, workers, the step executor
    conversion  ONNX, calibration, recipes, MUD, bundles     (uses runtime)
    deploy      devices, transports, the pull script         (uses runtime)
    server      HTTP, routes, configuration, main            (uses all three)

Generated headers (build/gen: onnx.pb-c.h, embed tables) are named bare and
live below every layer.  Tests (tests/) may include anything; the product
never includes tests/lib.  Run by `make check` and by `make test`
(tests/integration/test_layers.py); prints one line per violation and exits
1 when there is any.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAY_USE = {
    "runtime": {"runtime"},
    "conversion": {"runtime", "conversion"},
    "deploy": {"runtime", "deploy"},
    "server": {"runtime", "conversion", "deploy", "server"},
}
GENERATED = {"onnx.pb-c.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def violations(root=ROOT):
    out = []
    for layer, allowed in MAY_USE.items():
        folder = os.path.join(root, layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            text = open(os.path.join(folder, name), errors="replace").read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                where = f"{layer}/{name}:{line}"
                if inc in GENERATED:
                    continue
                top = inc.split("/", 1)[0] if "/" in inc else None
                if top is None:
                    out.append(f"{where}: #include \"{inc}\" must name its folder "
                               f"(e.g. \"{layer}/{inc}\")")
                elif top == "tests":
                    out.append(f"{where}: the product includes \"{inc}\" from tests/")
                elif top not in MAY_USE:
                    out.append(f"{where}: #include \"{inc}\": no such layer '{top}'")
                elif top not in allowed:
                    out.append(f"{where}: {layer} may not include {top}/ (\"{inc}\"): "
                               f"{layer} uses only {', '.join(sorted(allowed))}")
                elif not os.path.exists(os.path.join(root, inc)):
                    out.append(f"{where}: #include \"{inc}\": no such file")
    return out


def main():
    v = violations()
    for line in v:
        print(line)
    return 1 if v else 0


if __name__ == "__main__":
    sys.exit(main())
