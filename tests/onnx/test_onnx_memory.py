"""Memory of the ONNX reader on a 1M-node model (issue 14): kilnd writes a
model's graph view (GET /models/{id}/graph) by opening the model and
streaming the JSON to a file, and inspects every upload the same way, so
the peak RSS of that open is kilnd's peak.  The done-when says kilnd stays
under 256 MB; the reader once held a copy of the file's graph bytes, every
name twice and one inferred type per tensor (594 MB for this model).

The model is the chain of test_offload_http's big_model, 1M Add nodes with
long names (173 MB), encoded here directly (python3-onnx's helper takes
40 s for it).  The peak is the CLI's own VmHWM (ONNX_CLI_VMHWM), not a
timing.  The same file through python3-onnx is checked on a small chain,
so the encoding is what onnx.load reads.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx  # noqa: E402
import onnx_fixtures as F  # noqa: E402

R = F.Report("test_onnx_memory")
LIMIT_KB = 256 * 1024


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


SMALL = [varint(v) for v in range(1 << 14)]


def field(num, data):
    n = len(data)
    return SMALL[num << 3 | 2] + (SMALL[n] if n < 1 << 14 else varint(n)) + data


def vinfo(name):
    # ValueInfoProto{name, type: tensor_type{elem_type FLOAT, shape [1]}}
    shape = field(2, field(1, b"\x08\x01"))
    return field(1, name) + field(2, field(1, b"\x08\x01" + shape))


def chain(nodes):
    """The serialized ModelProto of big_model(nodes)."""
    parts, prev, tail = [], b"x", field(1, b"one")
    op = field(4, b"Add")
    for i in range(nodes):
        out = f"/model.{i // 100}/block.{i % 100}/a_rather_long_tensor_name_{i}_output_0".encode()
        name = f"/model.{i // 100}/block.{i % 100}/Add_{i}".encode()
        parts.append(field(1, b"".join((field(1, prev), tail, field(2, out),
                                        field(3, name), op))))
        prev = out
    one = b"\x08\x01\x10\x01" + field(8, b"one") + field(9, b"\x00\x00\x80\x3f")
    graph = b"".join(parts) + field(2, b"big") + field(5, one) + \
        field(11, vinfo(b"x")) + field(12, vinfo(prev))
    return b"\x08\x08" + field(7, graph) + field(8, b"\x10\x11"), prev.decode()


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
    with tempfile.TemporaryDirectory() as tmp:
        def encoding_is_what_onnx_reads():
            data, last = chain(300)
            m = onnx.load_from_string(data)
            onnx.checker.check_model(m)
            assert len(m.graph.node) == 300 and m.graph.output[0].name == last
        R.check("the_hand_encoded_chain_is_a_valid_model", encoding_is_what_onnx_reads)

        def graph_file_of_1m_nodes_under_256_mb():
            path, out = os.path.join(tmp, "m1m.onnx"), os.path.join(tmp, "g.json")
            data, last = chain(1_000_000)
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
            assert kb < LIMIT_KB, f"peak RSS {kb} KB, over {LIMIT_KB} KB"
            rc, kb, _ = peak_kb("inspect", path)
            print(f"INFO inspection of it: peak RSS {kb / 1024:.0f} MB", flush=True)
            assert rc == 0 and kb < LIMIT_KB, (rc, kb)
        R.check("graph_file_and_inspection_of_a_1m_node_model_stay_under_256_mb",
                graph_file_of_1m_nodes_under_256_mb)
    R.done()


main()
