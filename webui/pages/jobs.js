// jobs: the list of conversions, newest first, filterable by state; it
// refreshes itself while any listed job is still queued or running.
import { list } from '../api.js';
import { badge, errorBox, fill, h, pageTitle, table, when } from '../ui.js';

// The error codes in words live in one table, shared with the devices page.
export { ERROR_TITLE } from '../components/errors.js';
export const STATE_KIND = { queued: '', running: 'accent', succeeded: 'ok', failed: 'bad', cancelled: 'warn' };

export default async function render(main) {
	const h1 = h('h1', null, 'Jobs');
	const stateSel = h('select', { id: 'job-state' },
		['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => h('option', { value: s }, s || 'all states')));
	const box = h('div', { 'aria-live': 'polite' });
	let timer = null;

	// Pages of 500 (the API's most); "Show more" follows `next`.
	let items = [];
	async function load(after) {
		clearTimeout(timer);
		try {
			const page = await list('/jobs', { limit: 500, after: after || null, state: stateSel.value || null });
			items = after ? items.concat(page.items) : page.items;
			const rows = items.map((j) => h('tr', null,
				h('td', null, h('a', { href: `#/jobs/${j.id}` }, `#${j.id}`)),
				h('td', null, j.target, j.group ? [' ', h('a', { href: `#/groups/${j.group}`, class: 'small', title: 'the boards grid of its several-boards submit' }, `group #${j.group}`)] : null),
				h('td', null, h('a', { href: `#/models/${j.model}` }, `model #${j.model}`)),
				h('td', null, badge(j.state, STATE_KIND[j.state]), j.cached_from ? ' ' : null, j.cached_from ? badge('cached') : null),
				h('td', null, h('progress', { max: 1, value: j.progress || 0, 'aria-label': `progress of job ${j.id}` })),
				h('td', null, j.step || '—'),
				h('td', null, when(j.created))));
			const more = page.next ? h('button', { type: 'button', id: 'jobs-more' }, 'Show more') : null;
			if (more) more.addEventListener('click', () => load(page.next));
			fill(box, rows.length ? table(['Job', 'Target', 'Model', 'State', 'Progress', 'Step', 'Submitted'], rows, { id: 'jobs-table' })
				: h('p', { class: 'empty' }, 'No jobs yet. ', h('a', { href: '#/convert' }, 'Start a conversion.')), more);
			if (!after && items.some((j) => j.state === 'queued' || j.state === 'running')) timer = setTimeout(() => load(), 3000);
		} catch (err) {
			fill(box, errorBox(err, 'Cannot list jobs'));
		}
	}
	stateSel.addEventListener('change', () => load());
	main.append(h('div', { class: 'spread' }, h1, h('a', { class: 'button primary', href: '#/convert' }, 'New conversion')),
		h('div', { class: 'field' }, h('label', { for: 'job-state' }, 'Show'), stateSel), box);
	pageTitle(h1, 'Jobs');
	await load();
	return () => clearTimeout(timer);
}
