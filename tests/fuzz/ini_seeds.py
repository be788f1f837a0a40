"""Writes fuzz_ini's seeds: the README's kiln.ini example, one line per
setting with its default (from `kilnd --help`), and broken files."""
import os
import re
import subprocess
import sys

out = sys.argv[1]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
readme = open(os.path.join(ROOT, "README.md")).read()
m = re.search(r"```ini\n(.*?)```", readme, re.S)
if m:
    open(os.path.join(out, "readme.ini"), "w").write(m.group(1))
kilnd = os.path.join(ROOT, os.environ.get("BUILD", "build"), "kilnd")
try:
    help_text = subprocess.run([kilnd, "--help"], capture_output=True, text=True).stdout
except OSError:
    help_text = ""
rows = re.findall(r"^\s+\[([^\]]+)\] (\S+) = (\S+)", help_text, re.M)
by_section = {}
for sec, key, default in rows:
    sec = sec.replace("toolchain.*", "toolchain.tpu-mlir")
    by_section.setdefault(sec, []).append(f"{key} = {'' if default == '(empty)' else default}")
text = "".join(f"[{s}]\n" + "\n".join(v) + "\n\n" for s, v in by_section.items())
open(os.path.join(out, "all.ini"), "w").write(text)
for i, t in enumerate(["[server\nlisten = x\n", "listen = 1\n", "[server]\nlisten = [::1:80\n",
                       "[limits]\nmodel_bytes = 99999999999999G\n", "[toolchain.x]\nengine = y\n",
                       "[server]\ndata_dir = /dev/null/x\n"]):
    open(os.path.join(out, f"broken{i}.ini"), "w").write(t)
