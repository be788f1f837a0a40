// graphview: draws a laid-out graph (graphlayout.js) in SVG with pan and
// zoom.  Only what is inside the viewport (plus a margin) is in the DOM,
// so a 1 000-node model stays smooth; below a zoom threshold labels are
// hidden.  Tensors (edges) and nodes are clickable; the owner decides what
// a click means through the callbacks and tells the view what is selected.
import { edgePath, NODE_H, NODE_W } from './graphlayout.js';
import { h, s } from '../ui.js';

const KIND = {
	Conv: 'k-conv', ConvTranspose: 'k-conv', Gemm: 'k-conv', MatMul: 'k-conv',
	Relu: 'k-act', Sigmoid: 'k-act', Silu: 'k-act', LeakyRelu: 'k-act', HardSwish: 'k-act', HardSigmoid: 'k-act', Softmax: 'k-act', Tanh: 'k-act', Clip: 'k-act',
	Reshape: 'k-shape', Transpose: 'k-shape', Concat: 'k-shape', Split: 'k-shape', Slice: 'k-shape', Flatten: 'k-shape', Resize: 'k-shape', Gather: 'k-shape', Squeeze: 'k-shape', Unsqueeze: 'k-shape', Shape: 'k-shape',
	Add: 'k-math', Mul: 'k-math', Sub: 'k-math', Div: 'k-math', Pow: 'k-math', ReduceMean: 'k-math', MaxPool: 'k-math', AveragePool: 'k-math', GlobalAveragePool: 'k-math',
};

function shortName(name, max = 20) {
	if (name.length <= max) return name;
	return '…' + name.slice(name.length - max + 1);
}

export function graphView(g, { onTensor, onNode, label }) {
	const root = s('g');
	const edgeLayer = s('g');
	const nodeLayer = s('g');
	root.append(edgeLayer, nodeLayer);
	const svg = s('svg', { tabindex: '0', role: 'application', 'aria-label': label || 'Model graph: drag to pan, wheel or +/- to zoom, arrow keys to move' }, root);
	const zoomIn = h('button', { type: 'button', 'aria-label': 'Zoom in', title: 'Zoom in (+)' }, '+');
	const zoomOut = h('button', { type: 'button', 'aria-label': 'Zoom out', title: 'Zoom out (−)' }, '−');
	const fitBtn = h('button', { type: 'button', 'aria-label': 'Fit the whole graph', title: 'Fit (0)' }, '⤢');
	const el = h('div', { class: 'canvas' }, svg,
		h('div', { class: 'zoom' }, zoomIn, zoomOut, fitBtn),
		h('div', { class: 'legend', 'aria-hidden': 'true' },
			h('span', null, h('strong', { class: 'l-sel' }, '━'), ' picked output'),
			h('span', null, h('strong', { class: 'l-sugg' }, '┅'), ' suggested')));

	let tx = 0, ty = 0, k = 1;
	let selected = new Set();
	let suggested = new Set();
	let focusNode = -1;
	let hits = new Set();
	const nodeEls = new Map();
	const edgeEls = new Map();
	let raf = 0;

	function nodeEl(i) {
		let e = nodeEls.get(i);
		if (e) return e;
		const n = g.nodes[i];
		const kind = n.kind === 'node' ? (KIND[n.op] || '') : 'k-io';
		const out0 = n.outputs[0] && g.tensors[n.outputs[0]];
		const sub = n.kind === 'node' ? (out0 && out0.shape ? '[' + out0.shape.join('×') + ']' : shortName(n.name)) : shortName(n.name);
		e = s('g', { class: ['g-node', kind], transform: `translate(${n.x - NODE_W / 2},${n.y})`, tabindex: '0', role: 'button',
			'aria-label': `${n.op} ${n.name}`, dataset: { node: String(i) } },
		s('title', null, `${n.op}: ${n.name}`),
		s('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
		s('text', { class: 'op', x: 8, y: 16 }, n.kind === 'node' ? n.op : n.op + ' ' + shortName(n.name, 12)),
		s('text', { class: 'sub', x: 8, y: 31 }, sub));
		nodeEls.set(i, e);
		return e;
	}

	function edgeEl(j) {
		let e = edgeEls.get(j);
		if (e) return e;
		const ed = g.edges[j];
		const d = edgePath(ed.pts);
		e = s('g', { dataset: { edge: String(j), tensor: ed.tensor } },
			s('path', { class: 'g-hit', d }, s('title', null, `tensor ${ed.tensor} — click to pick or drop it as an output`)),
			s('path', { class: 'g-edge', d }));
		edgeEls.set(j, e);
		return e;
	}

	function styleNode(i, e) {
		const n = g.nodes[i];
		e.classList.toggle('focus', i === focusNode);
		e.classList.toggle('hit', hits.has(i));
		e.classList.toggle('has-sel', n.outputs.some((t) => selected.has(t)));
	}

	function styleEdge(j, e) {
		const t = g.edges[j].tensor;
		const vis = e.lastChild;
		vis.classList.toggle('sel', selected.has(t));
		vis.classList.toggle('sugg', suggested.has(t));
	}

	function size() {
		const r = svg.getBoundingClientRect();
		return [r.width || 800, r.height || 600];
	}

	function draw() {
		raf = 0;
		root.setAttribute('transform', `translate(${tx.toFixed(1)},${ty.toFixed(1)}) scale(${k.toFixed(4)})`);
		svg.classList.toggle('lod-low', k < 0.35);
		const [w, hgt] = size();
		const m = 200 / k;
		const x0 = -tx / k - m, y0 = -ty / k - m, x1 = (w - tx) / k + m, y1 = (hgt - ty) / k + m;
		const wantN = new Set();
		g.nodes.forEach((n, i) => {
			if (n.x + NODE_W / 2 >= x0 && n.x - NODE_W / 2 <= x1 && n.y + NODE_H >= y0 && n.y <= y1) wantN.add(i);
		});
		const wantE = new Set();
		g.edges.forEach((ed, j) => {
			const [a, b, c, d] = ed.box;
			if (c >= x0 && a <= x1 && d >= y0 && b <= y1) wantE.add(j);
		});
		sync(nodeLayer, nodeEls, wantN, nodeEl, styleNode);
		sync(edgeLayer, edgeEls, wantE, edgeEl, styleEdge);
	}

	function sync(layer, cache, want, make, style) {
		for (const [i, e] of cache) if (!want.has(i) && e.parentNode) e.remove();
		for (const i of want) {
			const e = make(i);
			style(i, e);
			if (!e.parentNode) layer.append(e);
		}
	}

	function schedule() {
		if (!raf) raf = requestAnimationFrame(draw);
	}

	function zoomAt(factor, cx, cy) {
		const nk = Math.min(3, Math.max(0.03, k * factor));
		tx = cx - ((cx - tx) * nk) / k;
		ty = cy - ((cy - ty) * nk) / k;
		k = nk;
		schedule();
	}

	function fit() {
		const [w, hgt] = size();
		k = Math.min(1.2, Math.max(0.03, Math.min((w - 40) / Math.max(g.width, 1), (hgt - 40) / Math.max(g.height, 1))));
		// A tall graph at a tiny scale helps nobody: start readable, at the top.
		if (k < 0.45) k = Math.min(0.8, Math.max(0.45, (w - 40) / Math.max(g.width, 1)));
		tx = (w - g.width * k) / 2;
		ty = 20;
		schedule();
	}

	function centerOn(i) {
		const n = g.nodes[i];
		const [w, hgt] = size();
		if (k < 0.6) k = 0.9;
		tx = w / 2 - n.x * k;
		ty = hgt / 2 - (n.y + NODE_H / 2) * k;
		schedule();
	}

	// Pointer: drag pans; a press that barely moves is a click.
	let drag = null;
	svg.addEventListener('pointerdown', (ev) => {
		if (ev.button !== 0) return;
		drag = { x: ev.clientX, y: ev.clientY, tx, ty, moved: false, id: ev.pointerId };
	});
	svg.addEventListener('pointermove', (ev) => {
		if (!drag || ev.pointerId !== drag.id) return;
		const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
		if (!drag.moved && Math.hypot(dx, dy) < 4) return;
		if (!drag.moved) { drag.moved = true; svg.setPointerCapture(ev.pointerId); svg.classList.add('dragging'); }
		tx = drag.tx + dx;
		ty = drag.ty + dy;
		schedule();
	});
	const endDrag = (ev) => {
		if (!drag) return;
		const wasDrag = drag.moved;
		drag = null;
		svg.classList.remove('dragging');
		if (wasDrag || ev.type !== 'pointerup') return;
		const target = ev.target.closest ? ev.target : null;
		const ne = target && target.closest('[data-node]');
		const ee = target && target.closest('[data-edge]');
		if (ne) onNode(Number(ne.dataset.node));
		else if (ee) onTensor(ee.dataset.tensor);
	};
	svg.addEventListener('pointerup', endDrag);
	svg.addEventListener('pointercancel', endDrag);
	svg.addEventListener('wheel', (ev) => {
		ev.preventDefault();
		const r = svg.getBoundingClientRect();
		zoomAt(Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015)), ev.clientX - r.left, ev.clientY - r.top);
	}, { passive: false });
	svg.addEventListener('keydown', (ev) => {
		const [w, hgt] = size();
		const step = 60;
		const ne = ev.target.closest && ev.target.closest('[data-node]');
		if (ne && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); onNode(Number(ne.dataset.node)); return; }
		switch (ev.key) {
		case 'ArrowLeft': tx += step; break;
		case 'ArrowRight': tx -= step; break;
		case 'ArrowUp': ty += step; break;
		case 'ArrowDown': ty -= step; break;
		case '+': case '=': zoomAt(1.25, w / 2, hgt / 2); return;
		case '-': case '_': zoomAt(0.8, w / 2, hgt / 2); return;
		case '0': fit(); return;
		default: return;
		}
		ev.preventDefault();
		schedule();
	});
	zoomIn.addEventListener('click', () => { const [w, hgt] = size(); zoomAt(1.25, w / 2, hgt / 2); });
	zoomOut.addEventListener('click', () => { const [w, hgt] = size(); zoomAt(0.8, w / 2, hgt / 2); });
	fitBtn.addEventListener('click', fit);
	const ro = new ResizeObserver(schedule);
	ro.observe(el);

	function restyle() {
		for (const [i, e] of nodeEls) if (e.parentNode) styleNode(i, e);
		for (const [j, e] of edgeEls) if (e.parentNode) styleEdge(j, e);
	}

	return {
		el,
		fit,
		centerOn,
		setSelected(set) { selected = set; restyle(); },
		setSuggested(set) { suggested = set; restyle(); },
		setFocus(i) { focusNode = i; restyle(); },
		setHits(set) { hits = set; restyle(); },
		visibleCounts() { return [nodeLayer.childElementCount, edgeLayer.childElementCount]; },
		destroy() { ro.disconnect(); if (raf) cancelAnimationFrame(raf); },
	};
}
