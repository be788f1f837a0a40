"""The layer rule of tests/tools/check_layers.py, in make test: the tree
holds it, and the checker does refuse what it must (a climbing include, a
bare one, the product reaching into tests/), shown on a scratch tree."""
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
import check_layers as L  # noqa: E402
import onnx_fixtures as F  # noqa: E402

R = F.Report("test_layers")


def the_tree_keeps_the_layers():
    v = L.violations()
    assert not v, "\n".join(v[:10])


def the_checker_refuses_what_climbs():
    d = tempfile.mkdtemp(prefix="kiln-layers-")
    try:
        for layer in L.MAY_USE:
            os.makedirs(os.path.join(d, layer))
        open(os.path.join(d, "server", "http.h"), "w").write("")
        open(os.path.join(d, "runtime", "blob.h"), "w").write("")
        open(os.path.join(d, "runtime", "jobs.c"), "w").write(
            '#include "runtime/blob.h"\n#include "server/http.h"\n#include "blob.h"\n'
            '#include "tests/lib/kt.h"\n#include "onnx.pb-c.h"\n')
        v = L.violations(d)
        assert any("runtime may not include server/" in x for x in v), v
        assert any("must name its folder" in x for x in v), v
        assert any("from tests/" in x for x in v), v
        assert len(v) == 3, v
    finally:
        shutil.rmtree(d)


def main():
    R.check("the_tree_keeps_the_layers", the_tree_keeps_the_layers)
    R.check("the_checker_refuses_a_climbing_a_bare_and_a_test_include",
            the_checker_refuses_what_climbs)
    R.done()


if __name__ == "__main__":
    main()
