// model: one model — its inputs and outputs (dynamic dims marked), the
// suggested output tensors with their reasons, the per-target
// compatibility matrix with each board's own suggested cut, the operator histogram, and the actions (graph
// view, convert, download, delete).
import { api } from '../api.js';
import { loadTargets } from '../components/toolchains.js';
import { badge, bytes, errorBox, fill, h, pageTitle, shape, table, toast, when } from '../ui.js';

function ioRows(kind, items) {
	return items.map((t) => h('tr', null,
		h('td', null, kind),
		h('td', { class: 'name mono' }, t.name),
		h('td', null, t.type),
		h('td', null, shape(t.shape),
			t.dynamic ? h('div', { class: 'small cell-warn' }, 'dynamic: ', (t.dynamic_dims || []).join(', ') || 'unknown rank', ' — give a fixed input shape when converting') : null)));
}

function verdict(t) {
	if (!t.ok || (t.problems && t.problems.length)) return h('span', { class: 'cell-bad' }, '✗ not as is');
	if (t.warnings && t.warnings.length) return h('span', { class: 'cell-warn' }, '⚠ with notes');
	return h('span', { class: 'cell-ok' }, '✓ ready');
}

function range(min, max) {
	if (min == null && max == null) return 'any';
	if (min == null) return `≤ ${max}`;
	if (max == null) return `≥ ${min}`;
	return `${min}–${max}`;
}

function opsCell(ops, kind) {
	if (!ops || !ops.length) return h('span', { class: 'muted' }, 'none');
	return h('span', { class: kind }, ops.join(', '));
}

// The board's own cut: what its runtime loads (inspection.targets.<id>.
// suggested_outputs, chosen from the board's loader), which a job with
// outputs "suggested" for that target uses.
function boardCut(t) {
	const sg = (t.suggested_outputs || [])[0];
	if (!sg) return h('span', { class: 'muted' }, '—');
	return h('div', { class: 'board-cut' },
		h('div', null, badge(sg.layout || sg.family), ` ${sg.tensors.length} tensor(s)`),
		h('ol', { class: 'tensors small mono' }, sg.tensors.map((x) => h('li', null, x))),
		t.suggestion_rule ? h('div', { class: 'muted small' }, t.suggestion_rule) : null);
}

// labels: board id -> its short name, from GET /api/v1/targets (the board
// table is kilnd's; the page names no board itself).
function matrix(targets, labels) {
	const rows = Object.entries(targets || {}).map(([id, t]) => h('tr', { dataset: { target: id } },
		h('td', null, labels[id] || id, h('div', { class: 'muted small' }, id, ' · ', t.toolchain)),
		h('td', null, verdict(t)),
		h('td', null, boardCut(t)),
		h('td', null, h('span', { class: t.ir && t.ir.ok === false ? 'cell-bad' : '' }, t.ir ? `${t.ir.model} (max ${t.ir.max ?? 'any'})` : '—')),
		h('td', null, h('span', { class: t.opset && t.opset.ok === false ? 'cell-warn' : '' },
			t.opset ? `${t.opset.model} (${range(t.opset.min, t.opset.max)})` : '—'),
			t.opset && t.opset.documented === false ? h('div', { class: 'muted small' }, 'range inferred') : null),
		h('td', null, opsCell(t.unsupported_ops, 'cell-bad'),
			t.unsupported_ops_before_suggested_cut && t.unsupported_ops_before_suggested_cut.length
				? h('div', { class: 'small cell-bad' }, 'before the suggested cut: ', t.unsupported_ops_before_suggested_cut.join(', ')) : null),
		h('td', null, opsCell(t.cpu_fallback_ops, 'cell-warn')),
		h('td', null, t.dynamic_inputs && t.dynamic_inputs.length ? h('span', { class: 'cell-warn' }, t.dynamic_inputs.map((d) => (typeof d === 'object' ? `${d.name} ${d.shape}` : d)).join(', ')) : h('span', { class: 'muted' }, 'none'),
			t.needs_input_shape ? h('div', { class: 'small cell-warn' }, 'needs input.shape') : null),
		h('td', { class: 'notes' }, (t.problems || []).length || (t.warnings || []).length
			? h('ul', null, (t.problems || []).map((p) => h('li', { class: 'cell-bad' }, p)), (t.warnings || []).map((w) => h('li', null, w)))
			: h('span', { class: 'muted' }, '—'),
			t.source ? h('div', { class: 'muted small' }, 'source: ', t.source) : null)));
	return table(['Target', 'Verdict', 'Suggested cut for the board', 'IR', 'Opset', 'Unsupported ops', 'On CPU', 'Dynamic inputs', 'Notes'], rows, { class: 'matrix', id: 'compat' });
}

function histogram(hist) {
	const entries = Object.entries(hist || {}).sort((a, b) => b[1] - a[1]);
	if (!entries.length) return h('p', { class: 'muted' }, 'No operators.');
	const max = entries[0][1];
	const box = h('div', { class: 'bars', role: 'list' });
	for (const [op, n] of entries) {
		const bar = h('div', { class: 'bar', 'aria-hidden': 'true' });
		bar.style.width = `${Math.max(1, (n / max) * 100)}%`;
		box.append(h('span', { role: 'listitem', class: 'mono' }, op), h('div', null, bar), h('span', { class: 'num' }, n));
	}
	return box;
}

function derivation(m) {
	if (!m.parent) return null;
	const d = m.derivation || {};
	const how = d.cut ? `cut at ${d.cut.length} tensor${d.cut.length === 1 ? '' : 's'}` : d.rewrite ? `rewritten to IR ${d.rewrite.ir_version}` : 'derived';
	return h('li', null, how, ' from ', h('a', { href: `#/models/${m.parent}` }, `model #${m.parent}`));
}

export default async function render(main, { params, go }) {
	const m = await api(`/models/${params.id}`);
	const insp = m.inspection || {};
	const labels = {};
	try {
		for (const t of (await loadTargets()).targets || []) labels[t.id] = t.label || t.name;
	} catch { /* the ids alone still say which board */ }
	const h1 = h('h1', null, m.name);
	const msg = h('div', { 'aria-live': 'polite' });

	async function cut(tensors) {
		if (!confirm(`Make a new model that ends at these ${tensors.length} tensors?\n\n${tensors.join('\n')}`)) return;
		try {
			const n = await api(`/models/${m.id}/cut`, { method: 'POST', json: { outputs: tensors } });
			toast(`Cut: new model “${n.name}”`);
			go(`/models/${n.id}`);
		} catch (err) {
			fill(msg, errorBox(err, 'The cut failed'));
		}
	}

	const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
	del.addEventListener('click', async () => {
		if (!confirm(`Delete model “${m.name}”? Jobs that used it keep their bundles.`)) return;
		try {
			await api(`/models/${m.id}`, { method: 'DELETE' });
			toast(`Deleted “${m.name}”`);
			go('/models');
		} catch (err) {
			fill(msg, errorBox(err, 'Cannot delete'));
		}
	});

	const suggestions = (m.suggested_outputs || []).map((sg, i) => {
		const cutBtn = h('button', { type: 'button', class: 'small' }, 'Cut here');
		cutBtn.addEventListener('click', () => cut(sg.tensors));
		return h('li', { class: 'card sugg', dataset: { suggestion: i } },
			h('div', { class: 'row' }, i === 0 ? badge('best match', 'sugg') : null,
				sg.model_type ? badge(sg.model_type, 'accent') : null, badge(sg.family)),
			h('p', null, sg.reason),
			h('ol', { class: 'tensors' }, sg.tensors.map((t) => h('li', null, t))),
			h('div', { class: 'row' },
				h('a', { class: 'button small', href: `#/models/${m.id}/graph?suggestion=${i}` }, 'Show in graph'),
				sg.family !== 'graph-outputs' ? cutBtn : null,
				h('a', { class: 'button small', href: `#/convert?model=${m.id}&suggestion=${i}` }, 'Convert with these')));
	});

	const opsets = (insp.opsets || []).map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
	// A deleted model that jobs used (a tombstone): its record stays so their
	// pages keep the link; its file is gone, so nothing here may use it.
	const gone = m.deleted === true;
	main.append(
		h('div', { class: 'spread' }, h1,
			gone ? null : h('div', { class: 'row' },
				h('a', { class: 'button primary', href: `#/models/${m.id}/graph` }, 'Graph view'),
				h('a', { class: 'button', href: `#/convert?model=${m.id}` }, 'Convert…'),
				h('a', { class: 'button', href: `/api/v1/models/${m.id}/file`, download: `${m.name}.onnx` }, 'Download ONNX'),
				del)),
		// main.append() would print a null: the notice is spread in or not
		...(gone ? [h('div', { class: 'alert warn', id: 'model-deleted', role: 'status' },
			h('strong', null, 'Model deleted on ', when(m.deleted_at), '.'),
			' Its file is no longer kept: it cannot be viewed as a graph, cut or converted again. Jobs that used it keep their results and bundles. To use it again, upload the ONNX again (it becomes a new model).')] : []),
		h('ul', { class: 'meta' },
			h('li', null, bytes(m.size)),
			h('li', null, `IR ${insp.ir_version ?? '?'}`),
			opsets ? h('li', null, `opset ${opsets}`) : null,
			h('li', null, `${insp.node_count ?? '?'} nodes`),
			insp.producer && insp.producer.name ? h('li', null, `from ${insp.producer.name} ${insp.producer.version || ''}`) : null,
			h('li', null, 'uploaded ', when(m.created)),
			derivation(m),
			h('li', { class: 'mono small', title: 'sha256' }, m.sha256.slice(0, 16), '…')),
		msg,
		h('section', { 'aria-labelledby': 'io-h' },
			h('h2', { id: 'io-h' }, 'Inputs and outputs'),
			table(['', 'Tensor', 'Type', 'Shape'], [...ioRows('input', insp.inputs || []), ...ioRows('output', insp.outputs || [])], { id: 'io' })),
		h('section', { 'aria-labelledby': 'sugg-h' },
			h('h2', { id: 'sugg-h' }, 'Suggested outputs'),
			h('p', { class: 'muted' }, 'Where to end the quantized part of the model: post-processing after these tensors runs on the CPU, as the vendor examples do.'),
			gone ? h('p', { class: 'muted' }, 'Deleted: nothing to cut or convert.') : suggestions.length ? h('ol', { class: 'grid', id: 'suggestions', role: 'list' }, suggestions) : h('p', { class: 'muted' }, 'No suggestion for this graph: pick outputs in the graph view.')),
		h('section', { 'aria-labelledby': 'compat-h' },
			h('h2', { id: 'compat-h' }, 'Compatibility per target'),
			matrix(insp.targets, labels)),
		h('section', { 'aria-labelledby': 'ops-h', class: 'grid' },
			h('div', { class: 'card' }, h('h2', { id: 'ops-h' }, 'Operators'), histogram(insp.op_histogram)),
			insp.metadata && Object.keys(insp.metadata).length ? h('div', { class: 'card' }, h('h2', null, 'Metadata'),
				h('dl', { class: 'kv' }, Object.entries(insp.metadata).map(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono small' }, v)]))) : null));
	pageTitle(h1, m.name);
}
