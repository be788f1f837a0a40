// graphlayout: turns GET /api/v1/models/{id}/graph into positioned boxes
// and edge routes — a layered (Sugiyama-style) drawing, top to bottom:
//   1. nodes: the graph's inputs and outputs as their own boxes, plus every
//      ONNX node; weights (initializers) are not drawn;
//   2. layers by longest path from the inputs;
//   3. edges longer than one layer get dummy points in each layer they
//      cross (up to LONG_EDGE layers; longer ones are drawn straight), so
//      ordering sees them and they bend around boxes;
//   4. order within layers by barycentre sweeps, down and up;
//   5. x from the neighbours' mean, then pushed apart to the minimum gap.
// Pure computation: no DOM.  O(V + E·span) per sweep; a 1 000-node model
// lays out in tens of milliseconds.

export const NODE_W = 132;
export const NODE_H = 40;
const DUMMY_W = 14;
const GAP_X = 22;
const GAP_Y = 62;
const LONG_EDGE = 40;
const SWEEPS = 6;

export function layout(graph) {
	const nodes = [];
	const producer = new Map();  // tensor -> node index
	const tensors = graph.tensors || {};
	const isWeight = (t) => tensors[t] && tensors[t].kind === 'initializer';

	for (const name of graph.inputs || []) {
		if (isWeight(name)) continue;
		producer.set(name, nodes.length);
		nodes.push({ kind: 'input', name, op: 'Input', inputs: [], outputs: [name], attrs: '' });
	}
	for (const n of graph.nodes || []) {
		const i = nodes.length;
		nodes.push({ kind: 'node', name: n.name || `${n.op}_${i}`, op: n.op, inputs: n.inputs || [], outputs: n.outputs || [], attrs: n.attrs || '' });
		for (const t of n.outputs || []) if (t) producer.set(t, i);
	}
	for (const name of graph.outputs || []) {
		nodes.push({ kind: 'output', name, op: 'Output', inputs: [name], outputs: [], attrs: '' });
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
	let maxLayer = Math.max(0, ...layerOf);
	nodes.forEach((n, i) => { if (!seen[i]) layerOf[i] = ++maxLayer; });
	// Graph outputs sit right under their producer, not at the bottom.

	// Items per layer: real nodes and dummies.  An item: {node | dummy edge}.
	const layers = Array.from({ length: maxLayer + 1 }, () => []);
	const items = [];
	const addItem = (it) => { it.id = items.length; items.push(it); layers[it.layer].push(it); return it; };
	const itemOfNode = nodes.map((n, i) => addItem({ node: i, layer: layerOf[i], w: n.kind === 'node' ? NODE_W : NODE_W, order: i }));
	const up = items.map(() => []);
	const down = items.map(() => []);
	const link = (a, b) => { down[a.id].push(b.id); up[b.id] = up[b.id] || []; up[b.id].push(a.id); };
	for (const e of edges) {
		const a = itemOfNode[e.from];
		const b = itemOfNode[e.to];
		e.points = [];
		const span = b.layer - a.layer;
		if (span > 1 && span <= LONG_EDGE) {
			let prev = a;
			for (let l = a.layer + 1; l < b.layer; l++) {
				const d = addItem({ dummy: e, layer: l, w: DUMMY_W, order: a.order });
				up.push([]); down.push([]);
				link(prev, d);
				e.points.push(d);
				prev = d;
			}
			link(prev, b);
		} else {
			link(a, b);
		}
	}

	// Order: start by node index, then barycentre sweeps.
	const pos = new Array(items.length).fill(0);
	const renumber = (layer) => layer.forEach((it, i) => { pos[it.id] = i; });
	for (const layer of layers) { layer.sort((a, b) => a.order - b.order); renumber(layer); }
	const bary = (it, nbrs) => {
		const ns = nbrs[it.id];
		if (!ns || !ns.length) return pos[it.id];
		let s = 0;
		for (const n of ns) s += pos[n];
		return s / ns.length;
	};
	for (let sweep = 0; sweep < SWEEPS; sweep++) {
		const downward = sweep % 2 === 0;
		const seq = downward ? layers.slice(1) : layers.slice(0, -1).reverse();
		for (const layer of seq) {
			const key = new Map(layer.map((it) => [it.id, bary(it, downward ? up : down)]));
			layer.sort((a, b) => key.get(a.id) - key.get(b.id) || a.order - b.order);
			renumber(layer);
		}
	}

	// x: pack each layer, then pull towards neighbours' mean, keeping gaps.
	const x = new Array(items.length).fill(0);
	for (const layer of layers) {
		let cx = 0;
		for (const it of layer) { x[it.id] = cx + it.w / 2; cx += it.w + GAP_X; }
	}
	const place = (layer, nbrs) => {
		if (!layer.length) return;
		const want = layer.map((it) => {
			const ns = nbrs[it.id];
			if (!ns || !ns.length) return x[it.id];
			let s = 0;
			for (const n of ns) s += x[n];
			return s / ns.length;
		});
		const got = want.slice();
		for (let i = 1; i < layer.length; i++) {
			const min = got[i - 1] + (layer[i - 1].w + layer[i].w) / 2 + GAP_X;
			if (got[i] < min) got[i] = min;
		}
		// Shift the whole layer back so it sits, on average, where wanted.
		let shift = 0;
		for (let i = 0; i < layer.length; i++) shift += want[i] - got[i];
		shift /= layer.length;
		layer.forEach((it, i) => { x[it.id] = got[i] + shift; });
	};
	for (let pass = 0; pass < 4; pass++) {
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
	for (const e of edges) {
		const a = nodes[e.from];
		const b = nodes[e.to];
		const pts = [[a.x, a.y + NODE_H]];
		for (const d of e.points) pts.push([x[d.id] - minX, yOf(d.layer) + NODE_H / 2]);
		pts.push([b.x, b.y]);
		e.pts = pts;
		let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
		for (const [px, py] of pts) { x0 = Math.min(x0, px); x1 = Math.max(x1, px); y0 = Math.min(y0, py); y1 = Math.max(y1, py); }
		e.box = [x0, y0, x1, y1];
		delete e.points;
	}
	return {
		nodes, edges, producer, tensors,
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
