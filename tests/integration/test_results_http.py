"""Results you can trust (issue 16), over real HTTP with kilnd on the
toolchain double: five boards from one request with their defaults, the
group read back for the boards grid, advice when a figure is below the
tolerance (only options the board has, one change a resubmit takes), the
job's spec resubmitted as it is stored, and the calibration sample listed
with its quality warnings (too few images, near-duplicates, shapes far
from the model input).

Synchronisation is by SSE events, never by sleeping.
Run with Debian's /usr/bin/python3 (tests/run.sh does).
"""
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_jobs_http as J  # noqa: E402  (its main() runs only as a script)
from PIL import Image  # noqa: E402

F = J.F
R = F.Report("test_results_http")
BOARDS = ["maixcam", "recamera", "maixcam2", "axera-pi", "metis"]
# Fields of a stored spec that the server adds, not a person: a resubmit
# leaves them out (webui/pages/convert.js does the same).
ADDED = ("compared_on", "warnings")


def jpeg(img):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def awkward_set():
    """The photos, one of them again resized (other bytes, same scene), and
    a 1200x100 strip: a near-duplicate and an aspect far from 640x640."""
    ph = J.photos()
    again = Image.open(io.BytesIO(ph[0][1])).resize((300, 300))
    strip = Image.new("RGB", (1200, 100), (30, 120, 200))
    return ph + [("again.jpg", jpeg(again)), ("strip.jpg", jpeg(strip))]


def resubmittable(spec, change=None):
    s = {k: v for k, v in spec.items() if k not in ADDED}
    if (spec.get("compared_on") or {}).get("source") == "calibration":
        s.pop("test_image", None)  # chosen by kilnd, from the old count's sample
    for k, v in (change or {}).items():
        s[k] = dict(s.get(k) or {}, **v) if isinstance(v, dict) else v
    return s


def main():
    a = J.Daemon(J.ini())
    # MaixCAM2's first output is quantized badly (the double on request):
    # the job fails below the tolerance, with advice.
    low = J.Daemon(J.ini(), env={"KILN_DOUBLE_LOW_COSINE": "pulsar2:/model.23/Concat_output_0,"
                                 "model_deploy:/model.23/cv2.0/cv2.0.2/Conv_output_0"})
    try:
        ds = J.upload_dataset(a)
        y11 = J.upload_model(a, "y11", F.yolov8(eleven=True))
        shared = {"model": y11["id"], "dataset": ds["id"], "name": "y11", "outputs": "suggested",
                  "mud": {"model_type": "yolo11", "labels": ["a", "b", "c", "d"]}}
        got = {}

        def five_boards_from_one_request_with_their_defaults():
            # no calibration.count: each board's default, lowered to the
            # set's 5 images; MaixCAM2's method is its own (target_options)
            # a classifier: every board's loader takes one (AXera-Pi's YOLOv8
            # program wants ArgMax outputs an Ultralytics export lacks)
            cls = J.upload_model(a, "cls", F.classifier())
            five = {"model": cls["id"], "dataset": ds["id"], "name": "cls", "outputs": "suggested",
                    "input": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]},
                    "mud": {"model_type": "classifier", "labels": ["a", "b", "c", "d", "e"]}}
            st, r = J.submit(a, dict(five, targets=BOARDS, target_options={
                "maixcam2": {"calibration": {"method": "Percentile"}, "npu_builds": "npu"}}))
            assert st == 202, (st, r)
            assert [j["target"] for j in r["jobs"]] == BOARDS and r["refused"] == [], r
            for j in r["jobs"]:
                assert J.final_state(a.events(j["id"])) == "succeeded", (
                    j["target"], a.json("GET", f"/api/v1/jobs/{j['id']}")[1]["error"])
            st, g = a.json("GET", f"/api/v1/groups/{r['group']}")
            assert st == 200 and g["group"] == r["group"], (st, g)
            assert [j["target"] for j in g["jobs"]] == BOARDS, g
            for j in g["jobs"]:
                got[j["target"]] = j
                assert j["group"] == int(r["group"]) and j["bundle"], j
                assert j["spec"]["calibration"]["count"] == ds["images"], j["spec"]["calibration"]
                res = j["results"]
                if j["target"] == "metis":
                    assert res["rows"] == [] and j["spec"]["compared_on"]["source"] == "none", res
                    continue
                # labelled per-output rows: every output of the spec named
                outs = {x["output"] for x in res["rows"] if x["stage"] != "mixed search"}
                assert outs == set(j["spec"]["outputs"]), (j["target"], outs)
            m2 = got["maixcam2"]
            assert m2["spec"]["calibration"]["method"] == "Percentile", m2["spec"]["calibration"]
            assert m2["spec"]["target_options"]["npu_builds"] == "npu", m2["spec"]
            assert m2["results"]["layers"], "no per-layer figures for maixcam2"
            st, mc = a.json("GET", f"/api/v1/jobs/{got['maixcam']['id']}")
            assert st == 200 and mc["advice"] is None, mc["advice"]
            st, e = a.json("GET", "/api/v1/groups/999999")
            assert st == 404 and e["error"]["field"] == "id", (st, e)
        R.check("five_boards_from_one_request_with_their_defaults",
                five_boards_from_one_request_with_their_defaults)

        def a_stored_spec_resubmits_as_it_is():
            for t in ("maixcam", "maixcam2", "metis"):
                st, r = J.submit(a, resubmittable(got[t]["spec"], {"cache": False}))
                assert st == 202 and r["cached_from"] is None, (t, st, r)
                assert J.final_state(a.events(r["id"])) == "succeeded", t
        R.check("a_stored_spec_resubmits_as_it_is", a_stored_spec_resubmits_as_it_is)

        def the_calibration_sample_is_listed_with_warnings():
            j = got["maixcam"]
            st, c = a.json("GET", f"/api/v1/jobs/{j['id']}/calibration")
            assert st == 200 and c["count"] == ds["images"] == len(c["images"]), (st, c)
            assert c["of"] == ds["images"] and all(i["entry"] and i["width"] for i in c["images"]), c
            codes = [w.get("code") for w in c["warnings"]]
            # 5 images: the default lowered (calibration.count) and fewer than
            # TPU-MLIR's "normally around 100 to 1000"
            assert "calibration_small" in codes and None in codes, c["warnings"]
            small = [w for w in c["warnings"] if w.get("code") == "calibration_small"][0]
            assert small["used"] == 5 and small["recommended"] == 100, small
            assert "100 to 1000" in small["source"], small
            # an awkward set: a near-duplicate and a strip
            st, _first, rec = a.upload_dataset("awkward", J.tar_of(awkward_set()),
                                               "application/x-tar")
            assert st == 202 and rec["state"] == "ready" and rec["images"] == 7, rec
            st, r = J.submit(a, dict(shared, dataset=rec["id"], target="maixcam"))
            assert st == 202, (st, r)
            codes = {w.get("code"): w for w in r["warnings"]}
            assert "calibration_duplicates" in codes, r["warnings"]
            assert codes["calibration_duplicates"]["duplicates"] == 1, codes
            asp = codes.get("calibration_aspect")
            assert asp and asp["images"] == 1 and "strip.jpg" in asp["examples"][0], r["warnings"]
            dims = y11["inspection"]["inputs"][0]["shape"]
            assert asp["input"] == [dims[3], dims[2]], (asp, dims)
            evs = a.events(r["id"])
            warned = [e["data"].get("code") for e in evs if e["event"] == "warning"]
            assert {"calibration_duplicates", "calibration_aspect"} <= set(warned), warned
            st, e = a.json("GET", "/api/v1/jobs/999999/calibration")
            assert st == 404, (st, e)
        R.check("the_calibration_sample_is_listed_with_its_quality_warnings",
                the_calibration_sample_is_listed_with_warnings)

        def labels_come_from_the_model_and_a_cut_keeps_what_it_cannot_see():
            # the yolov8 fixture carries Ultralytics' metadata names
            assert y11["inspection"]["suggested_labels"] == ["a", "b", "c", "d"], y11["inspection"]
            body = {k: v for k, v in shared.items() if k != "mud"}
            st, r = J.submit(a, dict(body, target="maixcam", mud={"model_type": "yolo11"}))
            assert st == 202 and r["spec"]["mud"]["labels"] == ["a", "b", "c", "d"], (st, r)
            J.final_state(a.events(r["id"]))
            # a cut YOLOv5 has no Detect head left: the family, model type
            # and anchors are its parent's
            v5 = J.upload_model(a, "v5own", F.yolov5(anchors=J.OWN_ANCHORS))
            outs = v5["suggested_outputs"][0]["tensors"]
            st, cut = a.json("POST", f"/api/v1/models/{v5['id']}/cut", {"outputs": outs})
            assert st == 201, (st, cut)
            st, cut = a.json("GET", f"/api/v1/models/{cut['id']}")
            assert cut["suggested_model_type"] == "yolov5", cut["suggested_model_type"]
            assert cut["inspection"]["anchors"] == J.OWN_ANCHORS, cut["inspection"].get("anchors")
            assert cut["inspection"]["family"] == v5["suggested_outputs"][0]["family"], cut["inspection"]
            inh = cut["derivation"]["inherited"]
            assert inh["from"] == v5["id"] and "anchors" in inh["keys"], inh
            # so a yolov5 job on the cut needs no anchors typed either
            st, r = J.submit(a, {"model": cut["id"], "dataset": ds["id"], "target": "maixcam",
                                 "outputs": outs, "mud": {"model_type": "yolov5",
                                                          "labels": ["a", "b", "c"]}})
            flat = [x for row in J.OWN_ANCHORS for x in row]
            assert st == 202 and r["spec"]["mud"]["anchors"] == flat, (st, r)
            J.final_state(a.events(r["id"]))
        R.check("labels_come_from_the_model_and_a_cut_keeps_what_it_cannot_see",
                labels_come_from_the_model_and_a_cut_keeps_what_it_cannot_see)

        lds = J.upload_dataset(low)
        ly = J.upload_model(low, "y11", F.yolov8(eleven=True))
        lshared = dict(shared, model=ly["id"], dataset=lds["id"])

        def a_low_head_output_gets_advice_the_board_can_take():
            # MaixCAM2: pulsar2 has calibration methods, no mixed precision
            st, j = J.submit(low, dict(lshared, target="maixcam2", tolerance=[0.98],
                                       target_options={"npu_builds": "npu"}))
            assert st == 202, (st, j)
            assert J.final_state(low.events(j["id"])) == "failed"
            st, j = low.json("GET", f"/api/v1/jobs/{j['id']}")
            # pulsar2's compiler.check fails the build itself below the
            # tolerance (check_cosine_simularity): its check_data line on
            # the tensor makes that below_tolerance, as TPU-MLIR's
            assert j["error"]["code"] == "below_tolerance", j["error"]
            adv = j["advice"]
            assert adv and adv["kind"] == "head" and j["error"]["advice"] == adv, adv
            ids = [s["id"] for s in adv["suggestions"]]
            assert "mixed_precision" not in ids and "bf16" not in ids, ids
            meth = [s for s in adv["suggestions"] if s["id"] == "calibration_method"][0]
            assert meth["change"] == {"calibration": {"method": "Percentile"}}, meth
            assert "cut_earlier" in ids and "change" not in adv["suggestions"][ids.index("cut_earlier")]
            st, r = J.submit(low, resubmittable(j["spec"], meth["change"]))
            assert st == 202 and r["spec"]["calibration"]["method"] == "Percentile", (st, r)
            J.final_state(low.events(r["id"]))
            # reCamera: TPU-MLIR's qtable is offered, no calibration method
            st, j = J.submit(low, dict(lshared, target="recamera", tolerance=[0.98, 0.5]))
            assert st == 202, (st, j)
            assert J.final_state(low.events(j["id"])) == "failed"
            st, j = low.json("GET", f"/api/v1/jobs/{j['id']}")
            assert j["error"]["code"] == "below_tolerance", j["error"]
            ids = [s["id"] for s in j["advice"]["suggestions"]]
            assert "calibration_method" not in ids, ids
            mixed = [s for s in j["advice"]["suggestions"] if s["id"] == "mixed_precision"][0]
            assert mixed["change"] == {"quantize": "mixed"}, mixed
            st, r = J.submit(low, resubmittable(j["spec"], mixed["change"]))
            assert st == 202 and r["spec"]["quantize"] == "mixed", (st, r)
            J.final_state(low.events(r["id"]))
        R.check("a_low_head_output_gets_advice_the_board_can_take",
                a_low_head_output_gets_advice_the_board_can_take)
    finally:
        a.stop()
        low.stop()
    R.done()


if __name__ == "__main__":
    main()
