// group: the boards grid of one several-boards submit (#/groups/<id>,
// GET /api/v1/groups/{id}) — a row per board: state, step, the worst
// output's cosine against the tolerance, every output's cosine, the
// advice's kind, and the bundle to download.  It refreshes itself while a
// job is still queued or running.
import { api } from '../api.js';
import { badge, errorBox, fill, h, pageTitle, table } from '../ui.js';
import { ERROR_TITLE, STATE_KIND } from './jobs.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

function figures(j) {
	const res = j.results || {};
	const on = (j.spec || {}).compared_on;
	if (on && on.source === 'none') return h('span', { class: 'muted small' }, on.why || 'no similarity figure');
	const outs = res.outputs || [];
	if (!outs.length) return h('span', { class: 'muted small' }, FINAL.has(j.state) ? 'no figure printed' : '…');
	const tol = Array.isArray(res.tolerance) ? res.tolerance[0] : undefined;
	const w = res.worst;
	return h('div', null,
		h('div', { class: typeof tol === 'number' && w.cosine < tol ? 'cell-bad' : 'cell-ok' }, 'worst ', h('code', null, w.output.split('/').slice(-2).join('/')), ` ${w.cosine.toFixed(4)}`, ` (${w.stage})`),
		h('div', { class: 'small muted' }, outs.map((o) => o.cosine.toFixed(4)).join(' · '), typeof tol === 'number' ? ` · tolerance ${tol}` : ''),
		(res.layers || []).length ? h('div', { class: 'small muted' }, `${res.layers.length} per-layer figures`) : null);
}

export default async function render(main, { params }) {
	const h1 = h('h1', null, `Boards of group #${params.id}`);
	const box = h('div', { 'aria-live': 'polite' });
	main.append(h1, h('p', { class: 'muted' }, 'One submit, one job per board: each row is that board\'s job; the grid refreshes until every job has ended.'), box);
	pageTitle(h1, `Group #${params.id}`);
	let timer = null;
	async function load() {
		try {
			const g = await api(`/groups/${params.id}`);
			fill(box, table(['Board', 'Job', 'State', 'Figures', 'Bundle'], g.jobs.map((j) => h('tr', { dataset: { target: j.target } },
				h('th', { scope: 'row' }, h('strong', null, j.target)),
				h('td', null, h('a', { href: `#/jobs/${j.id}` }, `#${j.id}`)),
				h('td', null, badge(j.state, STATE_KIND[j.state]), j.state === 'running' && j.step ? h('div', { class: 'small muted' }, `${j.step} · ${Math.round((j.progress || 0) * 100)} %`) : null,
					j.error ? h('div', { class: 'small err', title: j.error.code }, ERROR_TITLE[j.error.code] || 'failed') : null),
				h('td', null, figures(j)),
				h('td', null, j.bundle ? h('a', { class: 'button small', href: `/api/v1/bundles/${j.bundle}/archive`, download: '' }, 'Download') : h('span', { class: 'muted' }, '—')))),
			{ id: 'grid', class: 'figtable' }),
			g.jobs.length > 1 ? h('p', { class: 'small' }, h('a', { href: `#/jobs/compare?a=${g.jobs[0].id}&b=${g.jobs[1].id}` }, `Compare #${g.jobs[0].id} and #${g.jobs[1].id}`)) : null);
			if (g.jobs.some((j) => !FINAL.has(j.state))) timer = setTimeout(load, 1500);
		} catch (err) {
			fill(box, errorBox(err, 'Cannot read the group'));
		}
	}
	await load();
	return () => clearTimeout(timer);
}
