// graphview: draws a laid-out graph (graphlayout.js) with pan and zoom.
// Readable zoom: SVG, and only what is inside the viewport (plus a margin)
// is in the DOM.  Below LOD_K (labels unreadable) the whole visible part is
// painted on one <canvas> instead: a fitted 10 000-node graph is one
// bitmap, not 20 000 SVG elements.  A minimap shows the whole graph and
// the viewport; a click or drag on it moves the view.
//
// Keyboard: the canvas is one Tab stop and the boxes one more (a roving
// tabindex: only the current box has tabindex 0), so the side panel is
// two Tabs away whatever the graph's size.  On a box, arrows move to the
// next box (Down: a consumer, Up: a producer, Left/Right: the neighbour in
// the row) and the view follows; Enter opens it.  Elsewhere on the canvas
// arrows pan, +/- zoom, 0 fits.
// Tensors (edges) and nodes are clickable; the owner decides what a click
// means through the callbacks and tells the view what is selected.
import { edgePath, fitText, NODE_H, OP_CHAR, shapeText, SUB_CHAR } from './graphlayout.js';
import { h, s } from '../ui.js';

const KIND = {
	Conv: 'k-conv', ConvTranspose: 'k-conv', Gemm: 'k-conv', MatMul: 'k-conv',
	Relu: 'k-act', Sigmoid: 'k-act', Silu: 'k-act', LeakyRelu: 'k-act', HardSwish: 'k-act', HardSigmoid: 'k-act', Softmax: 'k-act', Tanh: 'k-act', Clip: 'k-act',
	Reshape: 'k-shape', Transpose: 'k-shape', Concat: 'k-shape', Split: 'k-shape', Slice: 'k-shape', Flatten: 'k-shape', Resize: 'k-shape', Gather: 'k-shape', Squeeze: 'k-shape', Unsqueeze: 'k-shape', Shape: 'k-shape',
	Add: 'k-math', Mul: 'k-math', Sub: 'k-math', Div: 'k-math', Pow: 'k-math', ReduceMean: 'k-math', MaxPool: 'k-math', AveragePool: 'k-math', GlobalAveragePool: 'k-math',
};
// Canvas fills per kind (light, dark): the same hues as app.css's boxes.
const FILL = {
	'k-conv': ['#93c5fd', '#3b82f6'], 'k-act': ['#f9a8d4', '#db2777'], 'k-shape': ['#bef264', '#65a30d'],
	'k-math': ['#fcd34d', '#ca8a04'], 'k-io': ['#60a5fa', '#60a5fa'], '': ['#cbd5e1', '#64748b'],
};
const LOD_K = 0.35;
const K_MAX = 3;
const MINI_W = 180;
const MINI_H = 130;

export function graphView(g, { onTensor, onNode, label }) {
	const root = s('g');
	const edgeLayer = s('g');
	const nodeLayer = s('g');
	root.append(edgeLayer, nodeLayer);
	const svg = s('svg', { tabindex: '0', role: 'application', 'aria-label': label || 'Model graph: drag to pan, wheel or +/- to zoom, arrow keys to move' }, root);
	const cv = h('canvas', { class: 'g-canvas', 'aria-hidden': 'true' });
	const mini = h('canvas', { class: 'minimap', width: MINI_W, height: MINI_H, title: 'Overview: click or drag to move the view' });
	const zoomIn = h('button', { type: 'button', 'aria-label': 'Zoom in', title: 'Zoom in (+)' }, '+');
	const zoomOut = h('button', { type: 'button', 'aria-label': 'Zoom out', title: 'Zoom out (−)' }, '−');
	const fitBtn = h('button', { type: 'button', 'aria-label': 'Fit the whole graph', title: 'Fit (0)' }, '⤢');
	const el = h('div', { class: 'canvas' }, cv, svg, mini,
		h('div', { class: 'zoom' }, zoomIn, zoomOut, fitBtn),
		h('div', { class: 'legend', 'aria-hidden': 'true' },
			h('span', null, h('strong', { class: 'l-sel' }, '━'), ' picked output'),
			h('span', null, h('strong', { class: 'l-sugg' }, '┅'), ' suggested')));

	// The drawing's size in graph units, for tests that check what a fit shows.
	el.dataset.graphW = String(Math.round(g.width));
	el.dataset.graphH = String(Math.round(g.height));
	let tx = 0, ty = 0, k = 1;
	// Zoomed out at most to a quarter of the whole graph's fit (a 10 000-node
	// chain is 800 000 px tall: a fixed floor would never show it whole).
	const K_MIN = Math.min(0.03, 0.25 * Math.min(800 / Math.max(g.width, 1), 600 / Math.max(g.height, 1)));
	let selected = new Set();
	let suggested = new Set();
	let focusNode = -1;
	let rover = g.nodes.length ? 0 : -1; // the box with tabindex 0
	let hits = new Set();
	const nodeEls = new Map();
	const edgeEls = new Map();
	let raf = 0;
	const dark = matchMedia('(prefers-color-scheme: dark)').matches ? 1 : 0;
	const SUBW = (n) => fitText(n.sub, n.w, SUB_CHAR);

	for (const n of g.nodes) {
		const out0 = n.outputs[0] && g.tensors[n.outputs[0]];
		n.sub = n.kind === 'node' ? (out0 && out0.shape ? shapeText(out0.shape, true) : n.name) : n.name;
		n.cls = n.kind === 'node' ? (KIND[n.op] || '') : 'k-io';
	}

	function nodeEl(i) {
		let e = nodeEls.get(i);
		if (e) return e;
		const n = g.nodes[i];
		const top = n.kind === 'node' ? n.op : n.op + ' ' + n.name;
		e = s('g', { class: ['g-node', n.cls], transform: `translate(${n.x - n.w / 2},${n.y})`, tabindex: '-1', role: 'button',
			'aria-label': `${n.op} ${n.name}`, dataset: { node: String(i) } },
		s('title', null, `${n.op}: ${n.name}`),
		s('rect', { width: n.w, height: NODE_H, rx: 6 }),
		s('text', { class: 'op', x: 8, y: 16 }, fitText(top, n.w, OP_CHAR)),
		s('text', { class: 'sub', x: 8, y: 31 }, SUBW(n)));
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
		e.setAttribute('tabindex', i === rover ? '0' : '-1');
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

	function view() {
		const [w, hgt] = size();
		return [-tx / k, -ty / k, (w - tx) / k, (hgt - ty) / k, w, hgt];
	}

	function draw() {
		raf = 0;
		root.setAttribute('transform', `translate(${tx.toFixed(1)},${ty.toFixed(1)}) scale(${k.toFixed(4)})`);
		const low = k < LOD_K;
		svg.classList.toggle('lod-low', low);
		const [vx0, vy0, vx1, vy1, w, hgt] = view();
		if (low) {
			// Painted: nothing in the SVG but the rover (so Tab still lands).
			for (const [j, e] of edgeEls) if (e.parentNode) e.remove();
			for (const [i, e] of nodeEls) if (e.parentNode && i !== rover) e.remove();
			paint(vx0, vy0, vx1, vy1, w, hgt);
			if (rover >= 0) { const e = nodeEl(rover); styleNode(rover, e); if (!e.parentNode) nodeLayer.append(e); }
		} else {
			cv.hidden = true;
			const m = 200 / k;
			const x0 = vx0 - m, y0 = vy0 - m, x1 = vx1 + m, y1 = vy1 + m;
			const wantN = new Set();
			g.nodes.forEach((n, i) => {
				if (n.x + n.w / 2 >= x0 && n.x - n.w / 2 <= x1 && n.y + NODE_H >= y0 && n.y <= y1) wantN.add(i);
			});
			if (rover >= 0) wantN.add(rover);
			const wantE = new Set();
			g.edges.forEach((ed, j) => {
				const [a, b, c, d] = ed.box;
				if (c >= x0 && a <= x1 && d >= y0 && b <= y1) wantE.add(j);
			});
			sync(nodeLayer, nodeEls, wantN, nodeEl, styleNode);
			sync(edgeLayer, edgeEls, wantE, edgeEl, styleEdge);
		}
		drawMini(vx0, vy0, vx1, vy1);
	}

	function paint(x0, y0, x1, y1, w, hgt) {
		const dpr = window.devicePixelRatio || 1;
		if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(hgt * dpr)) {
			cv.width = Math.round(w * dpr);
			cv.height = Math.round(hgt * dpr);
		}
		cv.hidden = false;
		const c = cv.getContext('2d');
		c.setTransform(dpr * k, 0, 0, dpr * k, dpr * tx, dpr * ty);
		c.clearRect(x0, y0, x1 - x0, y1 - y0);
		const lw = 1 / k;
		// Edges: plain polylines; picked and suggested ones on top, thicker.
		c.lineWidth = lw;
		c.strokeStyle = dark ? 'rgba(148,163,184,.45)' : 'rgba(100,116,139,.45)';
		c.beginPath();
		const marked = [];
		for (const ed of g.edges) {
			const [a, b, cc, d] = ed.box;
			if (cc < x0 || a > x1 || d < y0 || b > y1) continue;
			if (selected.has(ed.tensor) || suggested.has(ed.tensor)) { marked.push(ed); continue; }
			c.moveTo(ed.pts[0][0], ed.pts[0][1]);
			for (let p = 1; p < ed.pts.length; p++) c.lineTo(ed.pts[p][0], ed.pts[p][1]);
		}
		c.stroke();
		for (const ed of marked) {
			c.lineWidth = Math.max(3, 3 / k);
			c.strokeStyle = selected.has(ed.tensor) ? '#dc2626' : '#7c3aed';
			c.beginPath();
			c.moveTo(ed.pts[0][0], ed.pts[0][1]);
			for (let p = 1; p < ed.pts.length; p++) c.lineTo(ed.pts[p][0], ed.pts[p][1]);
			c.stroke();
		}
		// Boxes, batched by colour.
		const byFill = new Map();
		g.nodes.forEach((n, i) => {
			if (n.x + n.w / 2 < x0 || n.x - n.w / 2 > x1 || n.y + NODE_H < y0 || n.y > y1) return;
			const f = FILL[n.cls][dark];
			if (!byFill.has(f)) byFill.set(f, []);
			byFill.get(f).push(i);
		});
		for (const [f, list] of byFill) {
			c.fillStyle = f;
			c.beginPath();
			for (const i of list) { const n = g.nodes[i]; c.rect(n.x - n.w / 2, n.y, n.w, NODE_H); }
			c.fill();
		}
		const ring = (set, colour) => {
			if (!set.size) return;
			c.lineWidth = Math.max(3, 3 / k);
			c.strokeStyle = colour;
			c.beginPath();
			for (const i of set) { const n = g.nodes[i]; c.rect(n.x - n.w / 2, n.y, n.w, NODE_H); }
			c.stroke();
		};
		ring(hits, '#dc2626');
		if (focusNode >= 0) ring(new Set([focusNode]), '#2563eb');
	}

	// The minimap: the whole graph scaled into MINI_W × MINI_H, drawn once
	// into an offscreen bitmap; each frame adds the viewport's rectangle.
	let miniBase = null;
	const miniK = Math.min((MINI_W - 8) / Math.max(g.width, 1), (MINI_H - 8) / Math.max(g.height, 1));
	const miniX = (MINI_W - g.width * miniK) / 2;
	const miniY = (MINI_H - g.height * miniK) / 2;
	function drawMini(x0, y0, x1, y1) {
		const c = mini.getContext('2d');
		if (!miniBase) {
			miniBase = document.createElement('canvas');
			miniBase.width = MINI_W;
			miniBase.height = MINI_H;
			const b = miniBase.getContext('2d');
			b.setTransform(miniK, 0, 0, miniK, miniX, miniY);
			const byFill = new Map();
			for (const n of g.nodes) {
				const f = FILL[n.cls][dark];
				if (!byFill.has(f)) byFill.set(f, []);
				byFill.get(f).push(n);
			}
			const minW = 1.5 / miniK;
			for (const [f, list] of byFill) {
				b.fillStyle = f;
				b.beginPath();
				for (const n of list) b.rect(n.x - n.w / 2, n.y, Math.max(n.w, minW), Math.max(NODE_H, minW));
				b.fill();
			}
		}
		c.clearRect(0, 0, MINI_W, MINI_H);
		c.drawImage(miniBase, 0, 0);
		c.setTransform(miniK, 0, 0, miniK, miniX, miniY);
		if (hits.size) {
			c.fillStyle = '#dc2626';
			const r = 3 / miniK;
			for (const i of hits) { const n = g.nodes[i]; c.fillRect(n.x - r, n.y, 2 * r, 2 * r); }
		}
		c.lineWidth = 1.5 / miniK;
		c.strokeStyle = '#2563eb';
		c.strokeRect(x0, y0, x1 - x0, y1 - y0);
		c.setTransform(1, 0, 0, 1, 0, 0);
	}
	function miniMove(ev) {
		const r = mini.getBoundingClientRect();
		// The bitmap is MINI_W × MINI_H; CSS may show it smaller (phones).
		const gx = ((ev.clientX - r.left) * (MINI_W / r.width) - miniX) / miniK;
		const gy = ((ev.clientY - r.top) * (MINI_H / r.height) - miniY) / miniK;
		const [w, hgt] = size();
		tx = w / 2 - gx * k;
		ty = hgt / 2 - gy * k;
		schedule();
	}
	let miniDrag = false;
	mini.addEventListener('pointerdown', (ev) => { miniDrag = true; mini.setPointerCapture(ev.pointerId); miniMove(ev); ev.stopPropagation(); });
	mini.addEventListener('pointermove', (ev) => { if (miniDrag) miniMove(ev); });
	mini.addEventListener('pointerup', () => { miniDrag = false; });

	function sync(layer, cache, want, make, style) {
		for (const [i, e] of cache) if (!want.has(i) && e.parentNode && e !== document.activeElement) e.remove();
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
		const nk = Math.min(K_MAX, Math.max(K_MIN, k * factor));
		tx = cx - ((cx - tx) * nk) / k;
		ty = cy - ((cy - ty) * nk) / k;
		k = nk;
		schedule();
	}

	// Shows the box [x0,y0]-[x1,y1] (graph units) whole, centred, at most at
	// scale kmax.
	function showBox(x0, y0, x1, y1, kmax) {
		const [w, hgt] = size();
		const pad = 24;
		k = Math.min(kmax, Math.max(K_MIN, Math.min((w - 2 * pad) / Math.max(x1 - x0, 1), (hgt - 2 * pad) / Math.max(y1 - y0, 1))));
		tx = w / 2 - ((x0 + x1) / 2) * k;
		ty = hgt / 2 - ((y0 + y1) / 2) * k;
		schedule();
	}

	function fit() { showBox(0, 0, g.width, g.height, 1.2); }

	function centerOn(i) {
		const n = g.nodes[i];
		const [w, hgt] = size();
		if (k < 0.6) k = 0.9;
		tx = w / 2 - n.x * k;
		ty = hgt / 2 - (n.y + NODE_H / 2) * k;
		schedule();
	}

	// The boxes in list, all in view: one of them is centred at a readable
	// scale, several are fitted (not closer than 1:1).
	function showNodes(list) {
		if (!list.length) return;
		if (list.length === 1) { centerOn(list[0]); return; }
		let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
		for (const i of list) {
			const n = g.nodes[i];
			x0 = Math.min(x0, n.x - n.w / 2); x1 = Math.max(x1, n.x + n.w / 2);
			y0 = Math.min(y0, n.y); y1 = Math.max(y1, n.y + NODE_H);
		}
		showBox(x0, y0, x1, y1, 1);
	}

	function inView(i) {
		const n = g.nodes[i];
		const [x0, y0, x1, y1] = view();
		return n.x - n.w / 2 >= x0 && n.x + n.w / 2 <= x1 && n.y >= y0 && n.y + NODE_H <= y1;
	}

	// Moves the roving tabindex to box i and focuses it, drawing first if
	// it is off screen (only drawn boxes exist in the DOM).
	function focusBox(i) {
		if (i < 0 || i >= g.nodes.length) return;
		rover = i;
		if (!inView(i) || k < LOD_K) centerOn(i);
		if (raf) { cancelAnimationFrame(raf); draw(); }
		const e = nodeEl(i);
		for (const [j, x] of nodeEls) if (x.parentNode) x.setAttribute('tabindex', j === rover ? '0' : '-1');
		if (!e.parentNode) nodeLayer.append(e);
		e.focus({ preventScroll: true });
	}

	function neighbour(i, key) {
		const n = g.nodes[i];
		const near = (list) => list.length ? list.reduce((a, b) => (Math.abs(g.nodes[a].x - n.x) <= Math.abs(g.nodes[b].x - n.x) ? a : b)) : -1;
		if (key === 'ArrowDown') return near(n.succs);
		if (key === 'ArrowUp') return near(n.preds);
		const row = g.rows[n.layer];
		const at = row.indexOf(i);
		if (key === 'ArrowLeft') return at > 0 ? row[at - 1] : -1;
		if (key === 'ArrowRight') return at >= 0 && at < row.length - 1 ? row[at + 1] : -1;
		return -1;
	}

	// Which box is at client point (x, y) on the painted canvas.
	function boxAt(cx, cy) {
		const r = svg.getBoundingClientRect();
		const gx = (cx - r.left - tx) / k, gy = (cy - r.top - ty) / k;
		const slop = 4 / k;
		for (let i = 0; i < g.nodes.length; i++) {
			const n = g.nodes[i];
			if (gx >= n.x - n.w / 2 - slop && gx <= n.x + n.w / 2 + slop && gy >= n.y - slop && gy <= n.y + NODE_H + slop) return i;
		}
		return -1;
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
		if (ne) { rover = Number(ne.dataset.node); onNode(rover); } else if (ee) onTensor(ee.dataset.tensor);
		else if (k < LOD_K) {
			// A painted box: zoom to it and open it.
			const i = boxAt(ev.clientX, ev.clientY);
			if (i >= 0) { rover = i; centerOn(i); onNode(i); }
		}
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
		if (ne) {
			const i = Number(ne.dataset.node);
			if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); onNode(i); return; }
			const j = neighbour(i, ev.key);
			if (ev.key.startsWith('Arrow')) { ev.preventDefault(); if (j >= 0) focusBox(j); return; }
			if (ev.key === 'Home') { ev.preventDefault(); focusBox(0); return; }
		}
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
	svg.addEventListener('focusin', (ev) => {
		const ne = ev.target.closest && ev.target.closest('[data-node]');
		if (ne) rover = Number(ne.dataset.node);
	});
	zoomIn.addEventListener('click', () => { const [w, hgt] = size(); zoomAt(1.25, w / 2, hgt / 2); });
	zoomOut.addEventListener('click', () => { const [w, hgt] = size(); zoomAt(0.8, w / 2, hgt / 2); });
	fitBtn.addEventListener('click', fit);
	const ro = new ResizeObserver(schedule);
	ro.observe(el);

	function restyle() {
		for (const [i, e] of nodeEls) if (e.parentNode) styleNode(i, e);
		for (const [j, e] of edgeEls) if (e.parentNode) styleEdge(j, e);
		if (k < LOD_K) schedule();
		else if (hits.size) schedule(); // the minimap shows the hits
	}

	return {
		el,
		fit,
		centerOn,
		showNodes,
		focusBox,
		drawNow() { if (raf) cancelAnimationFrame(raf); draw(); },
		state() { return { tx, ty, k, lod: k < LOD_K }; },
		setSelected(set) { selected = set; restyle(); },
		setSuggested(set) { suggested = set; restyle(); },
		setFocus(i) { focusNode = i; if (i >= 0) rover = i; restyle(); },
		setHits(set) { hits = set; restyle(); },
		visibleCounts() { return [nodeLayer.childElementCount, edgeLayer.childElementCount]; },
		destroy() { ro.disconnect(); if (raf) cancelAnimationFrame(raf); },
	};
}
