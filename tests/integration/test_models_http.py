"""Models over real HTTP, checked with python3-onnx: the suggested outputs of
Ultralytics-shaped YOLOv5/YOLOv8/YOLO11 models equal the seeds' names; the
model cut at them through POST /cut passes onnx.checker and keeps the node
set onnx.utils.extract_model keeps; IR rewrite; a bad ONNX stores nothing."""
import base64
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import onnx  # noqa: E402
import onnx.utils  # noqa: E402
from onnx import helper, TensorProto  # noqa: E402
import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402

R = F.Report("test_models_http")
V8 = ["/model.{m}/cv2.0/cv2.0.2/Conv_output_0", "/model.{m}/cv3.0/cv3.0.2/Conv_output_0",
      "/model.{m}/cv2.1/cv2.1.2/Conv_output_0", "/model.{m}/cv3.1/cv3.1.2/Conv_output_0",
      "/model.{m}/cv2.2/cv2.2.2/Conv_output_0", "/model.{m}/cv3.2/cv3.2.2/Conv_output_0"]
CASES = [
    ("yolov5", F.yolov5, "yolov5",
     ["/model.24/m.0/Conv_output_0", "/model.24/m.1/Conv_output_0", "/model.24/m.2/Conv_output_0"]),
    ("yolov8", F.yolov8, "yolov8", [t.format(m=22) for t in V8]),
    ("yolo11", lambda: F.yolov8(eleven=True), "yolo11", [t.format(m=23) for t in V8]),
]


def node_set(model):
    return sorted((n.op_type, tuple(n.input), tuple(n.output)) for n in model.graph.node)


# Issue 14 item 1: this upload (an Identity node with no inputs) killed
# kilnd; the suggester read the node's in[0], which does not exist.
ISSUE14_IDENTITY_WITHOUT_INPUT = base64.b64decode(
    "CAYSDGJhY2tlbmQtdGVzdDp4CilAAIoKAXkSAXoiCElkZW50aXR5KhQKCWRpcmVjdGlvbiIETAVGVKABAxIY"
    "dGVzdF9iaXRzaGlmdF9sZWZ0X3VpbnRbWg8KAXgSCgoICAISBAoCCANaDwoBeRIKCggIAhIECgIIA2IPCgF6"
    "EgQKAggDQgQKABAL")


def main():
    # glibc fills fresh heap memory with this pattern, so a read of memory
    # kilnd never wrote (the crash above) gives a wild value, not a lucky 0.
    os.environ["MALLOC_PERTURB_"] = "90"
    k = Kilnd()
    tmp = tempfile.mkdtemp(prefix="kiln-models-http-")
    try:
        for name, build, mtype, want in CASES:
            def case(name=name, build=build, mtype=mtype, want=want):
                path = os.path.join(tmp, name + ".onnx")
                F.save(build(), path)
                with open(path, "rb") as f:
                    data = f.read()
                st, _, body = k.request("POST", "/api/v1/models?name=" + name, data,
                                        "application/octet-stream")
                assert st == 201, (st, body[:300])
                import json
                rec = json.loads(body)
                sugg = rec["suggested_outputs"][0]
                assert sugg["tensors"] == want, sugg
                assert rec["suggested_model_type"] == mtype, rec["suggested_model_type"]
                st, cut = k.json("POST", f"/api/v1/models/{rec['id']}/cut",
                                 {"outputs": want, "name": name + "-cut"})
                assert st == 201, (st, cut)
                assert cut["parent"] == rec["id"] and cut["derivation"]["cut"] == want
                st, _, cut_bytes = k.request("GET", f"/api/v1/models/{cut['id']}/file")
                assert st == 200
                got = onnx.load_from_string(cut_bytes)
                onnx.checker.check_model(got, full_check=True)
                ref_path = os.path.join(tmp, name + "-ref.onnx")
                onnx.utils.extract_model(path, ref_path, [i.name for i in got.graph.input], want)
                assert node_set(got) == node_set(onnx.load(ref_path)), "node sets differ"
                assert [o.name for o in got.graph.output] == want
            R.check(f"{name}_suggestion_equals_seed_names_and_cut_passes_checker", case)

        def identity_without_inputs():
            st, _, body = k.request("POST", "/api/v1/models?name=issue14", ISSUE14_IDENTITY_WITHOUT_INPUT,
                                    "application/octet-stream")
            assert st == 201, (st, body[:300])
            rec = json.loads(body)
            assert rec["suggested_outputs"][0]["tensors"] == ["z"], rec["suggested_outputs"]
            st, g = k.json("GET", f"/api/v1/models/{rec['id']}/graph")
            assert st == 200 and g["nodes"][0]["inputs"] == [], (st, g)
            st, _, _ = k.request("GET", "/healthz", token=None)
            assert st == 200
        R.check("identity_without_inputs_is_inspected_and_kilnd_lives", identity_without_inputs)

        def rewrite():
            g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
            m.ir_version = 9
            st, _, body = k.request("POST", "/api/v1/models?name=ir9", m.SerializeToString(),
                                    "application/octet-stream")
            assert st == 201, body
            import json
            mid = json.loads(body)["id"]
            st, out = k.json("POST", f"/api/v1/models/{mid}/rewrite", {"ir_version": 8})
            assert st == 201, out
            assert out["inspection"]["ir_version"] == 8
            st, _, b = k.request("GET", f"/api/v1/models/{out['id']}/file")
            got = onnx.load_from_string(b)
            assert got.ir_version == 8
            onnx.checker.check_model(got)
            st, out = k.json("POST", f"/api/v1/models/{mid}/rewrite", {"ir_version": 10})
            assert st == 400, (st, out)
            st, out = k.json("POST", f"/api/v1/models/{mid}/rewrite", {"ir_version": "8"})
            assert st == 400 and out["error"]["field"] == "ir_version", out
        R.check("rewrite_lowers_ir_and_refuses_raising_it", rewrite)

        def external_data_escape():
            w = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], bytes(16), raw=True)
            onnx.external_data_helper.set_external_data(w, "../../etc/passwd")
            w.data_location = TensorProto.EXTERNAL
            w.ClearField("raw_data")
            g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                                  [w])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
            st, before = k.json("GET", "/api/v1/models?limit=1000")
            st, _, body = k.request("POST", "/api/v1/models?name=evil", m.SerializeToString(),
                                    "application/octet-stream")
            assert st == 400 and b"../../etc/passwd" in body, (st, body)
            st, after = k.json("GET", "/api/v1/models?limit=1000")
            assert len(after["items"]) == len(before["items"])
        R.check("external_data_outside_the_model_is_refused_and_nothing_stored",
                external_data_escape)
    finally:
        k.stop_reported(R)
    R.done()


main()
