// specs: a job's stored spec made ready to submit again (with one change
// from the advice, or edited in the form), flattened for the comparison
// page, and the COCO-80 label preset.  The server adds compared_on and
// warnings to a stored spec and ignores them in a request (conversion/
// spec.c); test_image was picked by kilnd when compared_on says so.

// Ultralytics' COCO names, in class order (ultralytics/ultralytics,
// ultralytics/cfg/datasets/coco.yaml `names` @ 02c62271).
export const COCO80 = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
	'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep',
	'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
	'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
	'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
	'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
	'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
	'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush'];

const ADDED = ['compared_on', 'warnings'];

// A deep merge of change into spec (objects key by key, the rest replaced).
function merge(a, b) {
	if (!b || typeof b !== 'object' || Array.isArray(b)) return b;
	const out = { ...(a && typeof a === 'object' && !Array.isArray(a) ? a : {}) };
	for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
	return out;
}

export function resubmittable(spec, change) {
	const s = JSON.parse(JSON.stringify(spec || {}));
	if (s.compared_on && s.compared_on.source === 'calibration') delete s.test_image;
	for (const k of ADDED) delete s[k];
	return change ? merge(s, change) : s;
}

// {"a": {"b": [1, 2]}} → [["a.b", "[1,2]"]]: one row per leaf.
export function flatten(o, prefix = '', out = []) {
	if (o && typeof o === 'object' && !Array.isArray(o)) {
		for (const k of Object.keys(o).sort()) flatten(o[k], prefix ? `${prefix}.${k}` : k, out);
	} else {
		out.push([prefix, Array.isArray(o) ? JSON.stringify(o) : String(o)]);
	}
	return out;
}

// A change as words: {"calibration": {"method": "MSE"}} → "calibration.method = MSE".
export function changeText(change) {
	return flatten(change).map(([k, v]) => `${k} = ${v}`).join(', ');
}
