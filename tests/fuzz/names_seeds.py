"""Writes fuzz_names's seeds: COCO's 80 class names as str() of the
exporter's dict with int keys, the same with string keys, JSON, names with
quotes and a backslash in them, mixed keys, non-ASCII names as repr and
json.dumps escape them, and broken dicts."""
import json
import os
import sys

out = sys.argv[1]
COCO = [w.replace("_", " ") for w in (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light "
    "fire_hydrant stop_sign parking_meter bench bird cat dog horse sheep cow elephant "
    "bear zebra giraffe backpack umbrella handbag tie suitcase frisbee skis snowboard "
    "sports_ball kite baseball_bat baseball_glove skateboard surfboard tennis_racket "
    "bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli "
    "carrot hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv "
    "laptop mouse remote keyboard cell_phone microwave oven toaster sink refrigerator book "
    "clock vase scissors teddy_bear hair_drier toothbrush").split()]
assert len(COCO) == 80
seeds = {
    "coco_int_keys": str(dict(enumerate(COCO))),
    "coco_str_keys": str({str(i): n for i, n in enumerate(COCO)}),
    "coco_json": json.dumps({str(i): n for i, n in enumerate(COCO)}),
    "quote_in_name": str({0: "women's", 1: 'say "hi"', 2: "back\\slash"}),
    "mixed_keys": "{0: 'a', '1': 'b', \"2\": 'c'}",
    "broken_gap": "{'0': 'a', '2': 'b'}",
    "broken_open": "{'0': 'a', '1'",
    "list": str(COCO[:3]),
    # repr keeps printable non-ASCII, escapes the rest; json.dumps escapes
    # all of it, astral characters as surrogate pairs
    "unicode_repr": str({0: "caf\u00e9", 1: "no\xa0break", 2: "zero\u200bwidth",
                         3: "tag\U000e0001", 4: "\u4eba"}),
    "unicode_json": json.dumps({"0": "\u4eba", "1": "caf\u00e9", "2": "\U0001f600"}),
    "lone_surrogate": json.dumps({"0": "\ud800"}),
}
for name, text in seeds.items():
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        f.write(text)
