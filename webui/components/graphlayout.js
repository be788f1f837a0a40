// graphlayout: turns GET /api/v1/models/{id}/graph into positioned boxes
// and edge routes — a layered (Sugiyama-style) drawing, top to bottom:
//   1. nodes: the graph's inputs and outputs as their own boxes, plus every
//      ONNX node; weights (initializers) and Constant nodes are folded into
//      the nodes that read them (as Netron does): no box, no edge, listed in
//      the reader's details — an export such as PaddleOCR det is half
//      Constants, which otherwise fill one layer with fan-out edges;
//   2. layers by longest path from the inputs;
//   3. edges longer than one layer get dummy points in each layer they
//      cross (up to LONG_EDGE layers; longer ones are drawn straight), so
//      ordering sees them and they bend around boxes;
//   4. order within layers by barycentre sweeps, down and up;
//   5. x from the neighbours' mean, then pushed apart to the minimum gap.
// Boxes are as wide as their op name needs (labelWidth), between NODE_W and
// NODE_W_MAX; the view cuts the second line to the box (fitText).
// Pure computation: no DOM.  O(V + E·span) per sweep; a 1 000-node model
// lays out in tens of milliseconds, 10 000 in a few hundred (make bench).

export const NODE_W = 132;
export const NODE_W_MAX = 220;
// Text widths without measuring (no DOM here): the CSS draws the op line in
// 12px bold system-ui and the second line in 10px monospace; these are
// upper bounds of the average glyph advance at those sizes.
export const OP_CHAR = 7.6;
export const SUB_CHAR = 6.1;
export const PAD_X = 8;
const labelWidth = (op) => Math.min(NODE_W_MAX, Math.max(NODE_W, Math.ceil(op.length * OP_CHAR + 2 * PAD_X)));

// A tensor's shape as text: unknown dims '?'; in a box (short) a long
// symbolic dim keeps its first letter and number ("DynamicDimension.0" → D0).
export function shapeText(dims, short) {
	return '[' + dims.map((d) => {
		if (d === null || d === undefined) return '?';
		if (!short || typeof d !== 'string' || d.length <= 6) return String(d);
		return d[0] + ((d.match(/\d+$/) || [''])[0]);
	}).join('×') + ']';
}

// The text cut to fit width px at char px a glyph: the end of a name is what
// tells two tensors apart, so the cut is at the front.
export function fitText(text, width, char) {
	const max = Math.max(1, Math.floor((width - 2 * PAD_X) / char));
	return text.length <= max ? text : '…' + text.slice(text.length - max + 1);
}
export const NODE_H = 40;
const DUMMY_W = 14;
const GAP_X = 22;
const GAP_Y = 62;
const LONG_EDGE = 40;
const SWEEPS = 6;
const PLACE_PASSES = 4;
// Past BIG items (boxes and bend points) fewer passes: each pass is O(items)
// and the drawing of a 10 000-node model changes little after the first
// ones, while the first paint waits for all of them.
const BIG = 8000;

export function layout(graph) {
	const nodes = [];
	const producer = new Map();  // tensor -> node index
	const tensors = graph.tensors || {};
	// Folded tensors: initializers, and the outputs of Constant nodes (an
	// ONNX Constant has no inputs; its value is its one attribute).
	const folded = new Map();  // tensor -> {op, name, attrs}
	for (const [t, info] of Object.entries(tensors)) if (info && info.kind === 'initializer') folded.set(t, { op: 'Initializer', name: t, attrs: '' });
	let constants = 0;
	for (const n of graph.nodes || []) {
		if (n.op !== 'Constant' || (n.domain && n.domain !== 'ai.onnx') || (n.inputs || []).some((t) => t)) continue;
		constants++;
		for (const t of n.outputs || []) if (t) folded.set(t, { op: 'Constant', name: n.name || t, attrs: n.attrs || '' });
	}
	const isWeight = (t) => folded.has(t);

	const node = (kind, name, op, inputs, outputs, attrs) => {
		const n = { kind, name, op, inputs, outputs, attrs, w: kind === 'node' ? labelWidth(op) : NODE_W };
		nodes.push(n);
		return n;
	};
	for (const name of graph.inputs || []) {
		if (isWeight(name)) continue;
		producer.set(name, nodes.length);
		node('input', name, 'Input', [], [name], '');
	}
	for (const n of graph.nodes || []) {
		if (n.op === 'Constant' && n.outputs && n.outputs.every((t) => !t || folded.has(t))) continue;
		const i = nodes.length;
		node('node', n.name || `${n.op}_${i}`, n.op, n.inputs || [], n.outputs || [], n.attrs || '');
		for (const t of n.outputs || []) if (t) producer.set(t, i);
	}
	for (const name of graph.outputs || []) {
		if (isWeight(name)) continue;
		node('output', name, 'Output', [name], [], '');
	}

	// Edges: one per (producer, consumer, tensor).
	const edges = [];
	const preds = nodes.map(() => []);
	const succs = nodes.map(() => []);
	nodes.forEach((n, to) => {
		for (const t of n.inputs) {
			if (!t || isWeight(t)) continue;
			const from = producer.get(t);
			if (from === undefined || from === to) continue;
			edges.push({ from, to, tensor: t });
			preds[to].push(from);
			succs[from].push(to);
		}
	});

	// Layers by longest path, in topological order (Kahn), so a graph whose
	// nodes are not sorted still lays out; a cycle's leftovers go last.
	const indeg = preds.map((p) => p.length);
	const queue = [];
	indeg.forEach((d, i) => { if (d === 0) queue.push(i); });
	const layerOf = new Array(nodes.length).fill(0);
	const seen = new Array(nodes.length).fill(false);
	for (let q = 0; q < queue.length; q++) {
		const v = queue[q];
		seen[v] = true;
		for (const w of succs[v]) {
			layerOf[w] = Math.max(layerOf[w], layerOf[v] + 1);
			if (--indeg[w] === 0) queue.push(w);
		}
	}
	let maxLayer = 0;
	for (const l of layerOf) if (l > maxLayer) maxLayer = l;
	nodes.forEach((n, i) => { if (!seen[i]) layerOf[i] = ++maxLayer; });
	// Graph outputs sit right under their producer, not at the bottom.

	// Items per layer: real nodes and dummies.  An item: {node | dummy edge}.
	const layers = Array.from({ length: maxLayer + 1 }, () => []);
	const items = [];
	// One shape for every item (node -1: a dummy), so the loops below stay
	// monomorphic: at 10 000 nodes that is most of the time saved.
	const addItem = (node, layer, w, order) => {
		const it = { id: items.length, node, layer, w, order };
		items.push(it);
		layers[layer].push(it);
		return it;
	};
	const itemOfNode = nodes.map((n, i) => addItem(i, layerOf[i], n.w, i));
	const points = edges.map(() => null);  // per edge: its dummies, or null
	const up = items.map(() => []);
	const down = items.map(() => []);
	const link = (a, b) => { down[a.id].push(b.id); up[b.id] = up[b.id] || []; up[b.id].push(a.id); };
	edges.forEach((e, ei) => {
		const a = itemOfNode[e.from];
		const b = itemOfNode[e.to];
		const span = b.layer - a.layer;
		if (span > 1 && span <= LONG_EDGE) {
			let prev = a;
			points[ei] = [];
			for (let l = a.layer + 1; l < b.layer; l++) {
				const d = addItem(-1, l, DUMMY_W, a.order);
				up.push([]); down.push([]);
				link(prev, d);
				points[ei].push(d);
				prev = d;
			}
			link(prev, b);
		} else {
			link(a, b);
		}
	});

	// Order: start by node index, then barycentre sweeps.
	const pos = new Float64Array(items.length);
	const key = new Float64Array(items.length);
	const renumber = (layer) => layer.forEach((it, i) => { pos[it.id] = i; });
	for (const layer of layers) { layer.sort((a, b) => a.order - b.order); renumber(layer); }
	const bary = (it, nbrs) => {
		const ns = nbrs[it.id];
		if (!ns || !ns.length) return pos[it.id];
		let s = 0;
		for (const n of ns) s += pos[n];
		return s / ns.length;
	};
	const big = items.length > BIG;
	for (let sweep = 0; sweep < (big ? 3 : SWEEPS); sweep++) {
		const downward = sweep % 2 === 0;
		const seq = downward ? layers.slice(1) : layers.slice(0, -1).reverse();
		const nbrs = downward ? up : down;
		for (const layer of seq) {
			if (layer.length < 2) continue;  // nothing to order
			for (const it of layer) key[it.id] = bary(it, nbrs);
			layer.sort((a, b) => key[a.id] - key[b.id] || a.order - b.order);
			renumber(layer);
		}
	}

	// x: pack each layer, then pull towards neighbours' mean, keeping gaps.
	const x = new Float64Array(items.length);
	let want = new Float64Array(64), got = new Float64Array(64);
	for (const layer of layers) {
		let cx = 0;
		for (const it of layer) { x[it.id] = cx + it.w / 2; cx += it.w + GAP_X; }
	}
	const place = (layer, nbrs) => {
		const len = layer.length;
		if (!len) return;
		if (len > want.length) { want = new Float64Array(2 * len); got = new Float64Array(2 * len); }
		for (let i = 0; i < len; i++) {
			const id = layer[i].id;
			const ns = nbrs[id];
			let v = x[id];
			if (ns && ns.length) { v = 0; for (const n of ns) v += x[n]; v /= ns.length; }
			want[i] = v;
			got[i] = v;
		}
		if (len === 1) { x[layer[0].id] = want[0]; return; }
		for (let i = 1; i < layer.length; i++) {
			const min = got[i - 1] + (layer[i - 1].w + layer[i].w) / 2 + GAP_X;
			if (got[i] < min) got[i] = min;
		}
		// Shift the whole layer back so it sits, on average, where wanted.
		let shift = 0;
		for (let i = 0; i < len; i++) shift += want[i] - got[i];
		shift /= len;
		for (let i = 0; i < len; i++) x[layer[i].id] = got[i] + shift;
	};
	for (let pass = 0; pass < (big ? 2 : PLACE_PASSES); pass++) {
		for (const layer of layers.slice(1)) place(layer, up);
		for (const layer of layers.slice(0, -1).reverse()) place(layer, down);
	}

	let minX = Infinity;
	let maxX = -Infinity;
	for (const it of items) { minX = Math.min(minX, x[it.id] - it.w / 2); maxX = Math.max(maxX, x[it.id] + it.w / 2); }
	const yOf = (l) => l * (NODE_H + GAP_Y);
	nodes.forEach((n, i) => {
		const it = itemOfNode[i];
		n.x = x[it.id] - minX;
		n.y = yOf(it.layer);
		n.layer = it.layer;
	});
	// Each layer's boxes left to right, for the keyboard's Left/Right.
	const rows = layers.map((layer) => layer.filter((it) => it.node >= 0).map((it) => it.node));
	const uniq = (l) => (l.length < 2 ? l : [...new Set(l)]);
	nodes.forEach((n, i) => { n.preds = uniq(preds[i]); n.succs = uniq(succs[i]); });
	edges.forEach((e, ei) => {
		const a = nodes[e.from];
		const b = nodes[e.to];
		const pts = [[a.x, a.y + NODE_H]];
		if (points[ei]) for (const d of points[ei]) pts.push([x[d.id] - minX, yOf(d.layer) + NODE_H / 2]);
		pts.push([b.x, b.y]);
		e.pts = pts;
		let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
		for (let p = 0; p < pts.length; p++) {
			const px = pts[p][0], py = pts[p][1];
			if (px < x0) x0 = px;
			if (px > x1) x1 = px;
			if (py < y0) y0 = py;
			if (py > y1) y1 = py;
		}
		e.box = [x0, y0, x1, y1];
	});
	return {
		nodes, edges, producer, tensors, folded, constants, rows,
		width: maxX - minX, height: yOf(maxLayer) + NODE_H,
	};
}

// An SVG path through the route's points: vertical-tangent cubic curves.
export function edgePath(pts) {
	let d = `M${pts[0][0].toFixed(1)},${pts[0][1].toFixed(1)}`;
	for (let i = 1; i < pts.length; i++) {
		const [x0, y0] = pts[i - 1];
		const [x1, y1] = pts[i];
		const my = (y0 + y1) / 2;
		d += `C${x0.toFixed(1)},${my.toFixed(1)} ${x1.toFixed(1)},${my.toFixed(1)} ${x1.toFixed(1)},${y1.toFixed(1)}`;
	}
	return d;
}
