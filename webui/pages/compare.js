// compare: two jobs side by side (#/jobs/compare?a=1&b=2) — what differs
// in their specs, and their figures per output and build with the change
// from A to B, so a person sees what a resubmit with another method, count
// or board did.  Without b, a picker of recent jobs.
import { api, list } from '../api.js';
import { flatten } from '../components/specs.js';
import { badge, errorBox, fill, h, pageTitle, table } from '../ui.js';
import { ERROR_TITLE, STATE_KIND } from './jobs.js';

// Stored specs carry what kilnd added (compared_on's sha, warnings): the
// diff shows what a person chose.
const SKIP = /^(warnings|compared_on\.sha256)/;
const WORST = 'quantized, worst';

function specDiff(a, b) {
	const fa = new Map(flatten(a.spec || {}).filter(([k]) => !SKIP.test(k)));
	const fb = new Map(flatten(b.spec || {}).filter(([k]) => !SKIP.test(k)));
	const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
	const diff = keys.filter((k) => fa.get(k) !== fb.get(k));
	const same = keys.length - diff.length;
	const cell = (v) => h('td', { class: 'mono small' }, v === undefined ? h('span', { class: 'muted' }, '—') : v);
	return [
		h('p', { class: 'small muted' }, `${diff.length} of ${keys.length} spec fields differ; ${same} are the same.`),
		diff.length ? table(['Field', `#${a.id}`, `#${b.id}`], diff.map((k) => h('tr', { dataset: { key: k } },
			h('th', { scope: 'row', class: 'mono small' }, k), cell(fa.get(k)), cell(fb.get(k)))), { id: 'spec-diff' })
			: h('p', { id: 'spec-diff' }, 'The specs are the same.'),
	];
}

// cosine per (output, build) of one job's result rows
function cosines(job) {
	const m = new Map();
	for (const r of ((job.results || {}).rows || [])) {
		if (r.metric !== 'cosine' || typeof r.value !== 'number') continue;
		const k = `${r.output}\u0000${r.compare ? `${r.stage} · ${r.compare}` : r.stage}`;
		m.set(k, Math.min(m.get(k) ?? 2, r.value));
		// across builds (int8 against bf16, npu against another board's):
		// each output's worst quantized figure
		if (r.stage !== 'float' && r.stage !== 'mixed search') {
			const q = `${r.output}\u0000${WORST}`;
			m.set(q, Math.min(m.get(q) ?? 2, r.value));
		}
	}
	return m;
}

function figuresDiff(a, b) {
	const ca = cosines(a), cb = cosines(b);
	const keys = [...new Set([...ca.keys(), ...cb.keys()])];
	if (!keys.length) return h('p', { class: 'muted', id: 'figures-diff' }, 'Neither job has similarity figures.');
	// each output's worst quantized figure first, then every build; worst first
	const low = (x) => Math.min(ca.get(x) ?? 2, cb.get(x) ?? 2) - (x.endsWith(WORST) ? 10 : 0);
	keys.sort((x, y) => low(x) - low(y));
	const f = (v) => (v === undefined ? '—' : v.toFixed(v >= 0.999 ? 5 : 4));
	const tol = (x) => (Array.isArray((x.results || {}).tolerance) ? x.results.tolerance[0] : undefined);
	const cls = (v, t) => (v !== undefined && t !== undefined && v < t ? 'cell-bad' : '');
	return table(['Output', 'Build', `cosine #${a.id}`, `cosine #${b.id}`, 'change'], keys.map((k) => {
		const [out, stage] = k.split('\u0000');
		const va = ca.get(k), vb = cb.get(k);
		const d = va !== undefined && vb !== undefined ? vb - va : undefined;
		return h('tr', null, h('th', { scope: 'row', class: 'mono small' }, out), h('td', null, stage),
			h('td', { class: 'num' }, h('span', { class: cls(va, tol(a)) }, f(va))), h('td', { class: 'num' }, h('span', { class: cls(vb, tol(b)) }, f(vb))),
			h('td', { class: ['num', d > 0 ? 'better' : d < 0 ? 'worse' : ''] }, d === undefined ? '—' : `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)}`));
	}), { id: 'figures-diff', class: 'figtable' });
}

function head(j) {
	const w = (j.results || {}).worst;
	return h('div', { class: 'card' }, h('h2', null, h('a', { href: `#/jobs/${j.id}` }, `Job #${j.id}`), ' ', badge(j.state, STATE_KIND[j.state])),
		h('p', { class: 'small' }, `${j.target} · model #${j.model} · set #${j.dataset}`),
		h('p', { class: 'small' }, w ? ['worst: ', h('code', null, w.output), ` ${w.cosine.toFixed(4)} at ${w.stage}`] : 'no figures'),
		j.error ? h('p', { class: 'small err', title: j.error.code }, `${ERROR_TITLE[j.error.code] || 'Failed'}: ${j.error.message}`) : null);
}

export default async function render(main, { query, go }) {
	const h1 = h('h1', null, 'Compare two jobs');
	main.append(h1);
	pageTitle(h1, 'Compare jobs');
	const a = query.get('a'), b = query.get('b');
	if (!a || !b) {
		const page = await list('/jobs', { limit: 100 });
		const pick = (name, v) => h('select', { id: 'cmp-' + name, 'aria-label': `Job ${name.toUpperCase()}` }, h('option', { value: '' }, 'Choose a job…'),
			page.items.map((j) => h('option', { value: j.id, selected: String(j.id) === v }, `#${j.id} ${j.target} ${j.state}`)));
		const sa = pick('a', a), sb = pick('b', b);
		const btn = h('button', { type: 'button', class: 'primary' }, 'Compare');
		btn.addEventListener('click', () => sa.value && sb.value && go(`/jobs/compare?a=${sa.value}&b=${sb.value}`));
		main.append(h('div', { class: 'row' }, h('label', { for: 'cmp-a' }, 'A'), sa, h('label', { for: 'cmp-b' }, 'B'), sb, btn));
		return;
	}
	let ja, jb;
	try {
		[ja, jb] = await Promise.all([api(`/jobs/${encodeURIComponent(a)}`), api(`/jobs/${encodeURIComponent(b)}`)]);
	} catch (err) {
		main.append(errorBox(err, 'Cannot read the jobs'));
		return;
	}
	const box = h('div');
	fill(box,
		h('div', { class: 'grid two' }, head(ja), head(jb)),
		h('section', { 'aria-labelledby': 'sd-h' }, h('h2', { id: 'sd-h' }, 'Spec'), ...specDiff(ja, jb)),
		h('section', { 'aria-labelledby': 'fd-h' }, h('h2', { id: 'fd-h' }, 'Similarity'), figuresDiff(ja, jb)),
		h('p', null, h('a', { href: `#/jobs/compare?a=${jb.id}&b=${ja.id}` }, 'Swap A and B')));
	main.append(box);
}
