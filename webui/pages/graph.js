// graph: the model's graph (replaces Netron for this job) — search, pick
// tensors as quantization outputs (click an edge, or tick a node's outputs
// in the side panel), start from a suggestion, then "Cut here" makes the
// new model and opens it, or "Convert with these picks" opens the convert
// form with them.  Constants and weights are folded into their readers.
// The open box is in the address (#/models/3/graph?node=<name>), so a link
// opens the graph on that box; picks, search hits and suggestions move the
// view to what they name.
import { api } from '../api.js';
import { layout, shapeText } from '../components/graphlayout.js';
import { graphView } from '../components/graphview.js';
import { errorBox, fill, h, toast } from '../ui.js';

const MAX_RESULTS = 40;

export default async function render(main, { params, query, go }) {
	main.classList.add('wide');
	const [m, raw] = await Promise.all([api(`/models/${params.id}`), api(`/models/${params.id}/graph`)]);
	performance.mark('graph-data');  // fetched and parsed (make bench's breakdown)
	const t0 = performance.now();
	const g = layout(raw);
	const layoutMs = performance.now() - t0;
	const selected = new Set();
	const suggestions = m.suggested_outputs || [];
	const sIdx = Number(query.get('suggestion'));
	if (query.has('suggestion') && suggestions[sIdx]) for (const t of suggestions[sIdx].tensors) selected.add(t);

	const picked = h('ul', { class: 'picked', id: 'picked', 'aria-live': 'polite' });
	const details = h('div', { id: 'node-details' });
	const msg = h('div');
	const nameInput = h('input', { id: 'cut-name', autocomplete: 'off', placeholder: `${m.name}-cut`, pattern: '[A-Za-z0-9._-]{1,64}' });
	const cutBtn = h('button', { type: 'button', class: 'primary', id: 'cut' }, 'Cut here');
	const convertLink = h('a', { class: 'button', id: 'convert-picks', href: '#/convert' }, 'Convert with these picks');
	const byName = new Map(g.nodes.map((n, i) => [n.name, i]));
	const here = `#/models/${m.id}/graph`;
	const count = h('span', { class: 'muted small' });

	const view = graphView(g, {
		label: `Graph of ${m.name}: ${g.nodes.length} boxes. Drag to pan, wheel or +/- to zoom, arrow keys to pan, Tab to the boxes, then arrows move from box to box.`,
		onTensor: (t) => toggle(t),
		onNode: (i) => showNode(i),
	});

	function refresh() {
		view.setSelected(selected);
		fill(picked, [...selected].map((t) => {
			const rm = h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${t}` }, '✕');
			rm.addEventListener('click', () => toggle(t));
			const at = g.producer.get(t);
			const show = at === undefined ? null : h('button', { type: 'button', class: 'small', 'aria-label': `Show ${t} in the graph`, title: 'Show in the graph' }, '◎');
			if (show) show.addEventListener('click', () => { view.centerOn(at); showNode(at, true); });
			return h('li', { dataset: { tensor: t } }, h('span', null, t), h('span', { class: 'row-btns' }, show, rm));
		}));
		if (!selected.size) picked.append(h('li', { class: 'muted' }, 'None yet: click a tensor (an edge) or tick a node\'s outputs.'));
		count.textContent = `${selected.size} picked`;
		cutBtn.disabled = selected.size === 0;
		const q = new URLSearchParams({ model: String(m.id) });
		for (const t of selected) q.append('output', t);
		convertLink.href = `#/convert?${q}`;
		convertLink.toggleAttribute('aria-disabled', selected.size === 0);
		convertLink.classList.toggle('disabled', selected.size === 0);
		if (current >= 0) showNode(current, true);
	}

	function toggle(t) {
		if (selected.has(t)) selected.delete(t);
		else selected.add(t);
		refresh();
	}

	let current = -1;
	function showNode(i, keep) {
		current = i;
		const n = g.nodes[i];
		view.setFocus(i);
		const tensorRow = (t) => {
			const info = g.tensors[t] || {};
			const id = `out-${i}-${n.outputs.indexOf(t)}`;
			const box = h('input', { type: 'checkbox', id, checked: selected.has(t) });
			box.addEventListener('change', () => toggle(t));
			return h('label', { class: 'tensor-row', for: id }, box,
				h('span', null, t, info.shape ? h('span', { class: 'muted' }, ' ' + shapeText(info.shape)) : null));
		};
		fill(details,
			h('h2', null, `${n.op}`),
			h('p', { class: 'mono small' }, n.name),
			n.attrs ? h('p', { class: 'mono small muted' }, n.attrs) : null,
			n.outputs.length ? [h('h3', null, 'Outputs — use as quantization output'), n.outputs.map(tensorRow)] : null,
			n.inputs.length ? [h('h3', null, 'Inputs'), h('ul', { class: 'picked' }, n.inputs.filter((t) => t).map((t) => {
				const info = g.tensors[t] || {};
				const f = g.folded.get(t);
				const why = f ? (f.op === 'Constant' ? ` (constant${f.attrs ? ': ' + f.attrs : ''})` : ' (weight)') : '';
				const shp = info.shape ? ' ' + shapeText(info.shape) : '';
				return h('li', null, h('span', null, t, h('span', { class: 'muted' }, shp + why)));
			}))] : null);
		if (!keep) history.replaceState(null, '', `${here}?node=${encodeURIComponent(n.name)}`);
	}

	// Search over node names, op types and tensor names.
	const search = h('input', { type: 'search', id: 'graph-search', placeholder: 'Find a node or tensor', autocomplete: 'off',
		role: 'combobox', 'aria-expanded': 'false', 'aria-controls': 'graph-results', 'aria-autocomplete': 'list' });
	const results = h('ul', { class: 'results', id: 'graph-results', role: 'listbox', hidden: true });
	function runSearch() {
		const q = search.value.trim().toLowerCase();
		results.replaceChildren();
		if (!q) { results.hidden = true; search.setAttribute('aria-expanded', 'false'); view.setHits(new Set()); return; }
		const hitNodes = new Set();
		const found = [];
		g.nodes.forEach((n, i) => {
			if (n.name.toLowerCase().includes(q) || n.op.toLowerCase() === q) { hitNodes.add(i); found.push({ node: i, text: `${n.op} · ${n.name}` }); }
			for (const t of n.outputs) if (t.toLowerCase().includes(q) && t !== n.name) { hitNodes.add(i); found.push({ node: i, tensor: t, text: `tensor ${t}` }); }
		});
		view.setHits(hitNodes);
		first = found[0] || null;
		for (const f of found.slice(0, MAX_RESULTS)) {
			const b = h('button', { type: 'button', role: 'option' }, f.text);
			b.addEventListener('click', () => {
				results.hidden = true;
				search.setAttribute('aria-expanded', 'false');
				view.centerOn(f.node);
				showNode(f.node);
				const box = details.querySelector('input[type=checkbox]');
				if (box) box.focus();
			});
			results.append(h('li', null, b));
		}
		if (found.length > MAX_RESULTS) results.append(h('li', { class: 'muted small' }, `… and ${found.length - MAX_RESULTS} more; type more of the name`));
		if (!found.length) results.append(h('li', { class: 'muted small' }, 'Nothing matches.'));
		results.hidden = false;
		search.setAttribute('aria-expanded', 'true');
	}
	let first = null;
	search.addEventListener('input', runSearch);
	search.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && first) { ev.preventDefault(); results.hidden = true; view.centerOn(first.node); showNode(first.node); }
		if (ev.key === 'ArrowDown') { const b = results.querySelector('button'); if (b) { ev.preventDefault(); b.focus(); } }
		if (ev.key === 'Escape') { results.hidden = true; search.setAttribute('aria-expanded', 'false'); }
	});
	results.addEventListener('keydown', (ev) => {
		const btns = [...results.querySelectorAll('button')];
		const i = btns.indexOf(document.activeElement);
		if (ev.key === 'ArrowDown' && i < btns.length - 1) { ev.preventDefault(); btns[i + 1].focus(); }
		if (ev.key === 'ArrowUp') { ev.preventDefault(); (i > 0 ? btns[i - 1] : search).focus(); }
		if (ev.key === 'Escape') { results.hidden = true; search.focus(); }
	});

	const suggButtons = suggestions.map((sg, i) => {
		const b = h('button', { type: 'button', class: 'small', dataset: { suggestion: i } }, `Use: ${sg.model_type || sg.family} (${sg.tensors.length})`);
		b.title = sg.reason;
		b.addEventListener('click', () => { selected.clear(); for (const t of sg.tensors) selected.add(t); refresh(); showPicks(); toast(`Picked the ${sg.tensors.length} suggested outputs`); });
		return b;
	});
	const suggestedSet = new Set(suggestions.filter((sg) => sg.family !== 'graph-outputs').flatMap((sg) => sg.tensors));
	view.setSuggested(suggestedSet);

	const clear = h('button', { type: 'button', class: 'small' }, 'Clear');
	clear.addEventListener('click', () => { selected.clear(); refresh(); });

	cutBtn.addEventListener('click', async () => {
		msg.replaceChildren();
		cutBtn.disabled = true;
		try {
			const body = { outputs: [...selected] };
			if (nameInput.value.trim()) body.name = nameInput.value.trim();
			const n = await api(`/models/${m.id}/cut`, { method: 'POST', json: body });
			toast(`Cut: new model “${n.name}”`);
			go(`/models/${n.id}`);
		} catch (err) {
			fill(msg, errorBox(err, 'The cut failed'));
			if (err.field === 'name') nameInput.setAttribute('aria-invalid', 'true');
			cutBtn.disabled = selected.size === 0;
		}
	});

	// The producers of the picks, all in view.
	function showPicks() {
		view.showNodes([...selected].map((t) => g.producer.get(t)).filter((i) => i !== undefined));
	}

	const h1 = h('h1', null, h('a', { href: `#/models/${m.id}` }, m.name), ' · graph');
	main.append(h('div', { class: 'graph-page' },
		h('div', { class: 'graph-bar' }, h1,
			h('div', { class: 'search' }, h('label', { for: 'graph-search', class: 'vh' }, 'Find a node or tensor'), search, results),
			h('span', { class: 'muted small', id: 'graph-stats' }, `${raw.nodes.length} nodes`,
				g.constants ? ` (${g.constants} Constants folded)` : '', ` · ${g.nodes.length} boxes · laid out in ${layoutMs.toFixed(0)} ms`)),
		view.el,
		h('aside', { class: 'side', 'aria-label': 'Outputs and details' },
			h('h2', null, 'Quantization outputs ', count),
			picked,
			h('div', { class: 'row' }, clear),
			suggButtons.length ? [h('h3', null, 'Suggestions'), h('div', { class: 'row' }, suggButtons)] : null,
			h('div', { class: 'field' }, h('label', { for: 'cut-name' }, 'New model name ', h('span', { class: 'hint' }, '(optional)')), nameInput),
			h('div', { class: 'row' }, cutBtn, convertLink),
			msg,
			details)));
	document.title = `${m.name} graph · Kiln`;
	refresh();
	const want = query.get('node');
	const at = want !== null ? byName.get(want) : undefined;
	if (want !== null && at === undefined) fill(msg, errorBox(new Error(`There is no node named “${want}” in this graph.`), 'Link to a node'));
	requestAnimationFrame(() => {
		if (at !== undefined) { view.centerOn(at); showNode(at, true); } else if (selected.size) showPicks(); else view.fit();
		performance.mark('graph-first-draw');
		view.drawNow();
		performance.mark('graph-drawn');
		// After the frame with the graph is on screen (make bench reads it).
		requestAnimationFrame(() => setTimeout(() => performance.mark('graph-painted'), 0));
	});
	if (matchMedia('(pointer: fine)').matches) search.focus();
	return () => view.destroy();
}
