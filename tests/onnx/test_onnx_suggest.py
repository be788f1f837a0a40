"""Golden output-node suggestions on graphs with the Ultralytics YOLOv5,
YOLOv8 and YOLO11 head topology and names, a Softmax classifier and a
Sigmoid head (built here with python3-onnx, see onnx_fixtures.py), and the
cut at each suggestion checked with onnx.checker and extract_model.
The expected names are the ones the seeds give."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx  # noqa: E402
import onnx.utils  # noqa: E402
import onnx_fixtures as F  # noqa: E402

R = F.Report("test_onnx_suggest")

V8_HEAD = ["/model.{m}/cv2.0/cv2.0.2/Conv_output_0", "/model.{m}/cv3.0/cv3.0.2/Conv_output_0",
           "/model.{m}/cv2.1/cv2.1.2/Conv_output_0", "/model.{m}/cv3.1/cv3.1.2/Conv_output_0",
           "/model.{m}/cv2.2/cv2.2.2/Conv_output_0", "/model.{m}/cv3.2/cv3.2.2/Conv_output_0"]

CASES = [
    # seeds/000 and 001: the three YOLOv5 head convs
    ("yolov5", F.yolov5, "yolov5",
     ["/model.24/m.0/Conv_output_0", "/model.24/m.1/Conv_output_0", "/model.24/m.2/Conv_output_0"]),
    ("yolov8", F.yolov8, "yolov8", [t.format(m=22) for t in V8_HEAD]),
    # seeds/002 (reCamera, yolo11n): exactly these six, in this order
    ("yolo11", lambda: F.yolov8(eleven=True), "yolo11", [t.format(m=23) for t in V8_HEAD]),
    ("classifier", F.classifier, "classifier", ["/model.9/linear/Gemm_output_0"]),
    ("sigmoid_head", F.sigmoid_head, None, ["/head/Conv_output_0"]),
]


def check_cut(tmp, src, tensors):
    out = os.path.join(tmp, "cut.onnx")
    rc, st = F.cli("cut", src, out, *tensors)
    assert rc == 0, st
    assert st["untyped_outputs"] == 0, st
    cm = onnx.load(out)
    onnx.checker.check_model(cm, full_check=True)
    assert [o.name for o in cm.graph.output] == tensors
    ex = os.path.join(tmp, "ex.onnx")
    onnx.utils.extract_model(src, ex, ["images"], tensors)
    em = onnx.load(ex)
    assert sorted(n.name for n in cm.graph.node) == sorted(n.name for n in em.graph.node), \
        "node sets differ from extract_model"
    assert {i.name for i in cm.graph.initializer} == {i.name for i in em.graph.initializer}
    # shapes we inferred must equal onnx shape inference
    inf = {v.name: v for v in em.graph.output}
    for o in cm.graph.output:
        ours = [d.dim_value for d in o.type.tensor_type.shape.dim]
        theirs = [d.dim_value for d in inf[o.name].type.tensor_type.shape.dim]
        assert ours == theirs, f"{o.name}: shape {ours} != {theirs}"
    # no post-processing left: nothing after the suggested tensors
    produced = {t for n in cm.graph.node for t in n.output}
    assert set(tensors) <= produced


def main():
    if not os.access(F.CLI, os.X_OK):
        R.skip("all", f"{F.CLI} not built (make tests-build)")
        sys.exit(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, build, model_type, want in CASES:
            src = F.save(build(), os.path.join(tmp, f"{name}.onnx"))

            def suggest(src=src, want=want, model_type=model_type):
                rc, j = F.cli("suggest", src)
                assert rc == 0, j
                best = j["suggested_outputs"][0]
                assert best["tensors"] == want, f"got {best['tensors']}"
                assert j["suggested_model_type"] == model_type, j["suggested_model_type"]
                assert j["suggested_outputs"][-1]["family"] == "graph-outputs"
                assert best["reason"]
            R.check(f"{name}_suggestion_matches_seed_names", suggest)
            R.check(f"{name}_cut_at_suggestion_passes_checker_and_extract_model",
                    lambda src=src, want=want: check_cut(tmp, src, want))

        # renamed exports are still recognised by shape, not by names
        def renamed():
            m = F.yolov8()
            ren = {}
            for i, n in enumerate(m.graph.node):
                n.name = f"n{i}"
                for k, o in enumerate(n.output):
                    if o != "output0":
                        ren[o] = f"t{i}_{k}"
                        n.output[k] = ren[o]
            for n in m.graph.node:
                for k, x in enumerate(n.input):
                    n.input[k] = ren.get(x, x)
            src = F.save(m, os.path.join(tmp, "renamed.onnx"))
            rc, j = F.cli("suggest", src)
            assert rc == 0, j
            best = j["suggested_outputs"][0]
            assert best["family"] == "yolov8" and len(best["tensors"]) == 6, best
        R.check("yolov8_found_by_topology_when_names_are_changed", renamed)

        def v8_alternative():
            src = os.path.join(tmp, "yolov8.onnx")
            rc, j = F.cli("suggest", src)
            alt = j["suggested_outputs"][1]
            assert alt["tensors"] == ["/model.22/dfl/conv/Conv_output_0",
                                      "/model.22/Sigmoid_output_0"], alt
            check_cut(tmp, src, alt["tensors"])
        R.check("yolov8_second_choice_is_dfl_conv_and_sigmoid", v8_alternative)

        def targets():
            src = os.path.join(tmp, "yolo11.onnx")
            rc, j = F.cli("inspect", src)
            t = j["targets"]
            assert set(t) == {"maixcam", "recamera", "maixcam2", "axera-pi", "metis"}
            assert t["recamera"]["ir"]["max"] == 8 and t["recamera"]["opset"]["max"] == 17
            assert t["recamera"]["ok"], t["recamera"]
            # axera-pi's legacy pulsar lacks Split/Concat-free decode ops
            # (Sub/Div/Sigmoid are listed, Split is not): only after the cut
            ap = t["axera-pi"]
            assert "Split" in ap["unsupported_ops"], ap
            assert ap["unsupported_ops_before_suggested_cut"] == [], ap
            assert all(not x["needs_input_shape"] for x in t.values())
        R.check("inspection_lists_target_support", targets)

        # Issue 13 item 2: each board gets what its runtime loads.  MaixCDK
        # (sipeed/MaixCDK d9741a2 components/nn/include/maix_nn_yolo11.hpp,
        # load()) takes exactly 3 outputs of classes + 64 channels ("mode 1")
        # or the DFL conv + class Sigmoid ("mode 2"); the names are the ones
        # in MaixPy's guide (sipeed/MaixPy 4ca5228
        # docs/doc/en/vision/customize_model_yolov8.md, "Output Node
        # Selection"), which also says mode 2 fails to quantize on MaixCAM2.
        concats = ["/model.23/Concat_output_0", "/model.23/Concat_1_output_0",
                   "/model.23/Concat_2_output_0"]
        dfl = ["/model.23/dfl/conv/Conv_output_0", "/model.23/Sigmoid_output_0"]
        convs = [f"/model.23/{b}.{i}/{b}.{i}.2/Conv_output_0" for i in range(3) for b in ("cv2", "cv3")]

        def per_board():
            src = os.path.join(tmp, "yolo11.onnx")
            rc, j = F.cli("inspect", src)
            assert rc == 0, j
            t = j["targets"]

            def picks(board):
                return [x["tensors"] for x in t[board]["suggested_outputs"]]
            assert picks("maixcam") == [concats, dfl], picks("maixcam")
            assert picks("maixcam2") == [concats], picks("maixcam2")
            assert picks("recamera") == [convs], picks("recamera")
            for b in ("maixcam", "maixcam2"):
                assert "maix_nn_yolo11.hpp" in t[b]["suggestion_rule"], t[b]
                assert t[b]["suggested_model_type"] == "yolo11"
                assert t[b]["suggested_outputs"][0]["layout"] == "level-concats"
            # Metis and AXera-Pi: the box Convs of every level, then the
            # class Convs: voyager-sdk v1.2.5 ax_models/decoders/yolo.py
            # _guess_yolo_model ("6 outputs", channels[:3] == 64,
            # channels[3:] == num_classes); ax-samples 70a5178
            # examples/ax620/ax_yolov8s_steps.cc (pOutputs[i] DFL,
            # pOutputs[i + 3] classes)
            boxes_first = [f"/model.23/{b}.{i}/{b}.{i}.2/Conv_output_0"
                           for b in ("cv2", "cv3") for i in range(3)]
            for b, src_file, rest in (("metis", "ax_models/decoders/yolo.py", [["output0"]]),
                                      ("axera-pi", "ax_yolov8s_steps.cc", [])):
                assert picks(b) == [boxes_first] + rest, (b, picks(b))
                assert t[b]["suggested_outputs"][0]["layout"] == "head-convs-boxes-first"
                assert src_file in t[b]["suggestion_rule"], t[b]["suggestion_rule"]
            # the general field keeps its meaning (reCamera's cut first)
            assert j["suggested_outputs"][0]["tensors"] == convs
            # each Concat is one level: 4 classes + 64 box channels, NCHW
            # at strides 8/16/32 of the 640x640 input, as mode 1 checks
            out = os.path.join(tmp, "concats.onnx")
            rc, st = F.cli("cut", src, out, *concats)
            assert rc == 0, st
            shapes = [[d.dim_value for d in o.type.tensor_type.shape.dim]
                      for o in onnx.load(out).graph.output]
            hw = [[d.dim_value for d in i.type.tensor_type.shape.dim][2:]
                  for i in onnx.load(out).graph.input][0]
            assert shapes == [[1, 4 + 64, hw[0] // s, hw[1] // s] for s in (8, 16, 32)], shapes
            check_cut(tmp, src, concats)
        R.check("yolo11_per_board_suggestions_follow_the_board_loaders", per_board)

        def per_board_v8_and_v5():
            rc, j = F.cli("inspect", os.path.join(tmp, "yolov8.onnx"))
            mc = j["targets"]["maixcam"]["suggested_outputs"]
            assert [x["layout"] for x in mc] == ["level-concats", "dfl-sigmoid"], mc
            assert mc[0]["tensors"] == ["/model.22/Concat_1_output_0", "/model.22/Concat_2_output_0",
                                        "/model.22/Concat_3_output_0"], mc
            assert mc[1]["tensors"] == ["/model.22/dfl/conv/Conv_output_0",
                                        "/model.22/Sigmoid_output_0"], mc
            # YOLOv5: maix_nn_yolov5.hpp reads the three anchor Convs
            # (shape[1] == (classes + 5) * anchors per layer), as do
            # ax-samples' AX620 program and voyager-sdk's decodeyolo;
            # reCamera's SSCMA-Micro (ma_model_yolov5.cpp generalValid)
            # takes only the one decoded output [1, boxes, 5 + classes]
            rc, j = F.cli("inspect", os.path.join(tmp, "yolov5.onnx"))
            for b, v in j["targets"].items():
                if b == "recamera":
                    assert v["suggested_outputs"][0]["tensors"] == ["output0"], v
                    assert v["suggested_outputs"][0]["layout"] == "graph-outputs", v
                    assert "ma_model_yolov5.cpp" in v["suggestion_rule"], v
                    continue
                assert v["suggested_outputs"][0]["tensors"] == j["suggested_outputs"][0]["tensors"], b
                assert v["suggested_outputs"][0]["layout"] == "anchor-convs", b
        R.check("yolov8_and_yolov5_per_board_suggestions", per_board_v8_and_v5)

        # YOLOv5 anchors from the Detect head's anchor_grid constants
        # (ultralytics/yolov5 models/yolo.py Detect._make_grid): what the
        # fixture put in reads back, per level; none from a grid computed
        # in the graph, nor from another family's head.
        def yolov5_anchors_read_from_the_head():
            own = [[12, 16, 19, 36, 40, 28], [36, 75, 76, 55, 72, 146],
                   [142, 110, 192, 243, 459.5, 401.25]]
            for want, model in [(F.YOLOV5_COCO_ANCHORS, F.yolov5()),
                                (own, F.yolov5(anchors=own)),
                                (None, F.yolov5(anchors=own, anchor_grid="expand")),
                                (None, F.yolov8())]:
                src = F.save(model, os.path.join(tmp, "anchors.onnx"))
                rc, j = F.cli("inspect", src)
                assert rc == 0, j
                assert "anchors" in j and j["anchors"] == want, (want, j.get("anchors"))
                rc, sg = F.cli("suggest", src)
                assert sg["anchors"] == want, sg.get("anchors")
        R.check("yolov5_anchors_read_back_from_the_detect_head", yolov5_anchors_read_from_the_head)

        # A --half export (ultralytics/yolov5 export.py: model.half()) keeps
        # the anchor grids as float16 initializers: they read back as the
        # anchors the user wrote (12.34 is 12.34375 in float16), from
        # raw_data and from int32_data's 16-bit patterns alike.
        def yolov5_anchors_from_float16():
            own = [[12.34, 16.5, 19, 36, 40, 28], [36, 75, 76, 55, 72, 146],
                   [142, 110, 192, 243, 459.5, 401.5]]
            # (401.25 would read back as 401.2: the same float16, shorter)
            for bits in (False, True):
                m = F.half(F.yolov5(anchors=own), int32_bits=bits)
                grids = [t for t in m.graph.initializer if "anchor_grid" in t.name]
                assert len(grids) == 3 and all(t.data_type == onnx.TensorProto.FLOAT16
                                               for t in grids), grids
                src = F.save(m, os.path.join(tmp, "half.onnx"))
                rc, j = F.cli("inspect", src)
                assert rc == 0, j
                assert j["anchors"] == own, (bits, j.get("anchors"))
                assert j["suggested_model_type"] == "yolov5", j["suggested_model_type"]
        R.check("yolov5_anchors_read_from_a_float16_export", yolov5_anchors_from_float16)

        # Pose and seg (same MaixPy table): the levels, then the keypoints
        # Concat (pose) or the mask coefficients and "output1" (seg); the
        # loader's mode 1 wants 4 / 5 outputs, the extra ones 3-D and the
        # prototypes at a quarter of the input (maix_nn_yolo11.hpp load()).
        def pose_and_seg():
            for task, extra, shapes in (
                    ("pose", ["Concat_output_0"], [[1, 51, 84]]),
                    ("seg", ["Concat_output_0", "output1"], [[1, 32, 84], [1, 32, 16, 16]])):
                for eleven, mm in ((True, "/model.23"), (False, "/model.22")):
                    src = F.save(F.yolov8(eleven=eleven, task=task),
                                 os.path.join(tmp, f"{task}{eleven}.onnx"))
                    rc, j = F.cli("inspect", src)
                    assert rc == 0, j
                    names = [x if x.startswith("output") else f"{mm}/{x}" for x in extra]
                    want = [f"{mm}/Concat_{i}_output_0" for i in (1, 2, 3)] + names
                    mc = j["targets"]["maixcam"]["suggested_outputs"]
                    assert mc[0]["tensors"] == want, (task, eleven, mc[0])
                    assert mc[0]["task"] == task and mc[0]["family"] == ("yolo11" if eleven else "yolov8")
                    assert mc[1]["tensors"] == [f"{mm}/dfl/conv/Conv_output_0",
                                                f"{mm}/Sigmoid_output_0"] + names, mc[1]
                    assert [x["tensors"] for x in j["targets"]["maixcam2"]["suggested_outputs"]] == [want]
                    out = os.path.join(tmp, "ps.onnx")
                    rc, st = F.cli("cut", src, out, *want)
                    assert rc == 0, st
                    got = [[d.dim_value for d in o.type.tensor_type.shape.dim]
                           for o in onnx.load(out).graph.output]
                    assert got[3:] == shapes, (task, got)
                    check_cut(tmp, src, want)
                    # reCamera: SSCMA-Micro 60e2ede ma_model_yolo11_pose.cpp /
                    # ma_model_yolo11_seg.cpp isValid take the decoded outputs
                    rc_ = j["targets"]["recamera"]
                    own = [o["name"] for o in j["outputs"]]
                    assert rc_["suggested_outputs"][0]["tensors"] == own, (task, rc_)
                    assert f"ma_model_yolo11_{task}.cpp" in rc_["suggestion_rule"], rc_
        R.check("yolo_pose_and_seg_per_board_suggestions_add_their_outputs", pose_and_seg)

        def dynamic_batch():
            m = F.classifier()
            m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
            src = F.save(m, os.path.join(tmp, "dyn.onnx"))
            rc, j = F.cli("inspect", src)
            assert j["inputs"][0]["shape"] == ["batch", 3, 64, 64], j["inputs"]
            assert j["inputs"][0]["dynamic_dims"] == ["batch"]
            assert j["targets"]["maixcam"]["needs_input_shape"] is True
            assert any("input.shape is required" in w for w in j["targets"]["maixcam"]["warnings"])
        R.check("dynamic_batch_is_named_and_needs_input_shape", dynamic_batch)

        def recamera_limits():
            m = F.classifier()
            m.ir_version = 9
            m.opset_import[0].version = 19
            src = F.save(m, os.path.join(tmp, "new.onnx"))
            rc, j = F.cli("inspect", src)
            rec = j["targets"]["recamera"]
            assert not rec["ok"] and not rec["ir"]["ok"] and not rec["opset"]["ok"], rec
            # Softmax, Gemm, Conv... did not change from 17 to 19: relabel
            out = os.path.join(tmp, "ir8.onnx")
            rc, r = F.cli("rewrite", src, out, 8, 17)
            assert rc == 0, r
            low = onnx.load(out)
            assert low.ir_version == 8 and low.opset_import[0].version == 17
            onnx.checker.check_model(low)
            rc, j = F.cli("inspect", out)
            assert j["targets"]["recamera"]["ok"], j["targets"]["recamera"]
        R.check("recamera_ir_opset_limits_and_safe_relabel", recamera_limits)

        def refuse_changed_ops():
            src = os.path.join(tmp, "yolov8.onnx")
            m = onnx.load(src)
            m.ir_version = 8
            m.opset_import[0].version = 18   # Split changed in 18
            src = F.save(m, os.path.join(tmp, "op18.onnx"))
            rc, j = F.cli("rewrite", src, os.path.join(tmp, "x.onnx"), 8, 17)
            assert rc == 2 and j["error"]["code"] == "unprocessable", j
            assert "Split (changed in 18)" in j["error"]["message"], j
            rc, j = F.cli("rewrite", src, os.path.join(tmp, "x.onnx"), 7)
            assert rc == 2 and "IR 7 allows opset <= 14" in j["error"]["message"], j
        R.check("rewrite_refuses_when_ops_changed_and_names_them", refuse_changed_ops)

        # Ultralytics writes metadata names with str(), i.e. repr: printable
        # non-ASCII as it is, \xa0 escaped; names that came through JSON
        # have json.dumps's \uXXXX and surrogate pairs.  Both are made by
        # this Python, so the reader is checked against what it writes.
        def names_in_python_and_json_escapes():
            names = {0: "caf\u00e9", 1: "\u4eba", 2: "no\xa0break", 3: "\U0001f600", 4: "it's"}
            want = list(names.values())
            texts = [(str(names), want),
                     (json.dumps({str(k): v for k, v in names.items()}), want),
                     (json.dumps({"0": "a", "1": "\ud83d"}), "surrogate")]
            for i, (text, expect) in enumerate(texts):
                m = F.yolov8()
                for e in m.metadata_props:
                    if e.key == "names":
                        e.value = text
                src = F.save(m, os.path.join(tmp, f"names{i}.onnx"))
                rc, j = F.cli("inspect", src)
                assert rc == 0, j
                if isinstance(expect, list):
                    assert j.get("suggested_labels") == expect, (text, j.get("suggested_labels"))
                    assert "suggested_labels_error" not in j, j["suggested_labels_error"]
                else:
                    assert "suggested_labels" not in j, j["suggested_labels"]
                    assert expect in j.get("suggested_labels_error", ""), j
        R.check("names_in_python_and_json_escapes_read_as_labels",
                names_in_python_and_json_escapes)
    R.done()


if __name__ == "__main__":
    main()
