"""Writes fuzz_mud's seeds: the .mud files of the seeds' own shapes (MaixCAM
cvimodel, MaixCAM2 with model_npu/model_vnpu, a classifier), as MaixPy's
docs write them (see ../shared/reference/mud.md), plus broken variants."""
import os
import sys

out = sys.argv[1]
base = {
    "maixcam_yolo11": "[basic]\ntype = cvimodel\nmodel = yolo11n.cvimodel\n\n[extra]\n"
                      "model_type = yolo11\ninput_type = rgb\nmean = 0, 0, 0\n"
                      "scale = 0.00392156862745098, 0.00392156862745098, 0.00392156862745098\n"
                      "labels = person, bicycle, car\n",
    "maixcam2_yolov5": "[basic]\ntype = axmodel\nmodel_npu = y_npu.axmodel\nmodel_vnpu = y_vnpu.axmodel\n\n"
                       "[extra]\nmodel_type = yolov5\ninput_type = rgb\ninput_cache = true\n"
                       "output_cache = true\ninput_cache_flush = false\noutput_cache_inval = true\n"
                       "anchors = 10,13, 16,30, 33,23, 30,61, 62,45, 59,119, 116,90, 156,198, 373,326\n"
                       "labels = a, b\nmean = 0,0,0\nscale = 1,1,1\n",
    "classifier": "[basic]\ntype = cvimodel\nmodel = c.cvimodel\n[extra]\nmodel_type = classifier\n"
                  "input_type = rgb\nmean = 103.94, 116.78, 123.68\nscale = 0.017, 0.017, 0.017\nlabels = x\n",
}
broken = ["[basic\ntype = cvimodel\n", "type = x\n", "[basic]\nmodel = ../../etc/passwd\n",
          "[extra]\nlabels = " + ",".join(["l"] * 5000) + "\n", "\0\0\0", "[basic]\n=\n"]
for name, text in base.items():
    open(os.path.join(out, name + ".mud"), "w").write(text)
for i, text in enumerate(broken):
    open(os.path.join(out, f"broken{i}.mud"), "w").write(text)
