"""DOUBLE of maix.nn: the detector / classifier classes read the .mud and
fail, as MaixPy does, when its model file is missing."""
import configparser
import os
import sys


class _Obj:
    def __init__(self, x, y, w, h, class_id, score):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.class_id, self.score = class_id, score


class _Base:
    def __init__(self, model, dual_buff=True):
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(model)
        if not cfg.has_section("basic"):
            raise RuntimeError("load model failed: no [basic] in " + model)
        m = cfg["basic"].get("model") or cfg["basic"].get("model_npu")
        if not m or not os.path.exists(os.path.join(os.path.dirname(model), m)):
            raise RuntimeError("load model failed: model file missing")
        extra = cfg["extra"] if cfg.has_section("extra") else {}
        if extra.get("kiln_double") == "garbage":
            sys.stdout.write("\x1b[31mE (2345) npu: \x00\x01 garbage ###\n")
            sys.stdout.flush()
            os._exit(0)
        self.labels = [s.strip() for s in extra.get("labels", "").split(",") if s.strip()]

    def input_width(self):
        return 320

    def input_height(self):
        return 224


class YOLOv8(_Base):
    def detect(self, img, conf_th=0.5, iou_th=0.45):
        w, h = img.width(), img.height()
        return [_Obj(w // 4, h // 4, w // 2, h // 2, 0, 0.91)]


YOLOv5 = YOLOv8
YOLO11 = YOLOv8


class Classifier(_Base):
    def classify(self, img):
        return [(0, 0.8), (1, 0.2)]


class NN(_Base):
    def forward_image(self, img):
        return {}
