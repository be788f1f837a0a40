"""Memory of the ONNX reader on a 1M-node model (issue 14): kilnd writes a
model's graph view (GET /models/{id}/graph) by opening the model and
streaming the JSON to a file, and inspects every upload the same way, so
the peak RSS of that open is kilnd's peak.  The done-when says kilnd stays
under 256 MB; the reader once held a copy of the file's graph bytes, every
name twice and one inferred type per tensor (594 MB for this model).

The model is the chain of test_offload_http's big_model, 1M Add nodes with
long names (173 MB), encoded directly (onnx_fixtures.big_chain;
python3-onnx's helper takes 40 s for it).  The peak is the CLI's own VmHWM (ONNX_CLI_VMHWM), not a
timing.  The same file through python3-onnx is checked on a small chain,
so the encoding is what onnx.load reads.

The cut and the IR rewrite copy the model's bytes out of its mapping; they
drop its pages as they go, so their peak is the parse's plus a few MB (it
was plus the file: cut 376 MB, rewrite 324 MB).  Under ASan (make check)
the work runs but the bounds are skipped: RSS then counts the sanitizer's
quarantine.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import onnx  # noqa: E402
import onnx_fixtures as F  # noqa: E402
from kiln_server import sanitized  # noqa: E402

R = F.Report("test_onnx_memory")
LIMIT_KB = 256 * 1024
WRITER_EXTRA_KB = 32 * 1024


def peak_kb(*args):
    """(exit status, the CLI's peak RSS in KB, stdout)."""
    p = subprocess.run([F.CLI, *args], capture_output=True, timeout=600,
                       env=dict(os.environ, ONNX_CLI_VMHWM="1"))
    kb = [int(x.split()[1]) for x in p.stderr.decode().splitlines()
          if x.startswith("vmhwm_kb ")]
    assert kb, p.stderr[-300:]
    return p.returncode, kb[0], p.stdout


def main():
    if not os.access(F.CLI, os.X_OK):
        R.skip("all", f"{F.CLI} not built (make tests-build)")
        sys.exit(0)
    S = {}
    # Under ASan (make check) RSS counts the sanitizer's quarantine and
    # shadow: the work runs and is checked, the bounds are not.
    bounded = not sanitized(F.CLI)
    if not bounded:
        R.skip("peak_rss_bounds", f"{F.CLI} is built with ASan; the bounds are checked "
               "on the plain build")
    with tempfile.TemporaryDirectory() as tmp:
        def encoding_is_what_onnx_reads():
            data, last = F.big_chain(300)
            m = onnx.load_from_string(data)
            onnx.checker.check_model(m)
            assert len(m.graph.node) == 300 and m.graph.output[0].name == last
        R.check("the_hand_encoded_chain_is_a_valid_model", encoding_is_what_onnx_reads)

        def graph_file_of_1m_nodes_under_256_mb():
            path, out = os.path.join(tmp, "m1m.onnx"), os.path.join(tmp, "g.json")
            data, last = F.big_chain(1_000_000)
            with open(path, "wb") as f:
                f.write(data)
            del data
            rc, kb, _ = peak_kb("graph-file", path, out)
            assert rc == 0, f"exit {rc}"
            size = os.path.getsize(out)
            with open(out, "rb") as f:
                head = f.read(10)
                f.seek(size - 200)
                tail = f.read()
            print(f"INFO graph file of a 1M-node model ({os.path.getsize(path) / 1e6:.0f} MB, "
                  f"JSON {size / 1e6:.0f} MB): peak RSS {kb / 1024:.0f} MB", flush=True)
            assert head == b'{"nodes":[' and tail.endswith(f'"outputs":["{last}"]}}'.encode()), \
                (head, tail[-120:])
            graph_kb = kb
            rc, kb, _ = peak_kb("inspect", path)
            print(f"INFO inspection of it: peak RSS {kb / 1024:.0f} MB", flush=True)
            assert rc == 0, f"inspect: exit {rc}"
            S["path"], S["last"], S["inspect_kb"] = path, last, kb
            assert not bounded or graph_kb < LIMIT_KB, \
                f"graph file: peak RSS {graph_kb} KB, over {LIMIT_KB} KB"
            assert not bounded or kb < LIMIT_KB, f"inspect: peak RSS {kb} KB, over {LIMIT_KB} KB"
        R.check("graph_file_and_inspection_of_a_1m_node_model_stay_under_256_mb",
                graph_file_of_1m_nodes_under_256_mb)

        def cut_and_rewrite_of_1m_nodes_cost_no_more_than_the_parse():
            # The writers copy the model's bytes out of its mapping; its
            # pages are dropped as they go, so each peak is the parse's
            # (the inspection's above) plus a few MB, not plus the file
            # (cut 376 MB, rewrite 324 MB before).
            assert "path" in S, "the 1M-node model was not written"
            path, size = S["path"], os.path.getsize(S["path"])
            bound = min(LIMIT_KB, S["inspect_kb"] + WRITER_EXTRA_KB)
            cut = os.path.join(tmp, "cut.onnx")
            rc, kb, out = peak_kb("cut", path, cut, S["last"])
            print(f"INFO cut of it at its last output (all 1M nodes kept): peak RSS "
                  f"{kb / 1024:.0f} MB", flush=True)
            assert rc == 0 and b'"nodes":1000000' in out, (rc, out[:200])
            assert not bounded or kb < bound, f"cut: peak RSS {kb} KB, over {bound} KB"
            rw = os.path.join(tmp, "rw.onnx")
            rc, kb, out = peak_kb("rewrite", path, rw, "7", "14")
            print(f"INFO rewrite of it to IR 7 / opset 14: peak RSS {kb / 1024:.0f} MB",
                  flush=True)
            assert rc == 0 and os.path.getsize(rw) == size, (rc, out[:200])
            assert not bounded or kb < bound, f"rewrite: peak RSS {kb} KB, over {bound} KB"
        R.check("cut_and_rewrite_of_a_1m_node_model_cost_no_more_than_its_parse",
                cut_and_rewrite_of_1m_nodes_cost_no_more_than_the_parse)
    R.done()


main()
