// dataset: one calibration set — accepted and rejected counts, each
// rejected entry with its reason, size statistics, and the contact sheet.
import { api } from '../api.js';
import { badge, bytes, errorBox, fill, h, pageTitle, table, toast, when } from '../ui.js';

function stat(name, s) {
	if (!s) return null;
	return [h('dt', null, name), h('dd', null, `${s.min} – ${s.max} px (median ${s.median})`)];
}

export default async function render(main, { params, go }) {
	const d = await api(`/datasets/${params.id}`);
	const h1 = h('h1', null, d.name);
	const st = d.stats || {};
	const rejected = d.rejected || [];
	const msg = h('div');
	const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
	del.addEventListener('click', async () => {
		if (!confirm(`Delete calibration set “${d.name}”?`)) return;
		try {
			await api(`/datasets/${d.id}`, { method: 'DELETE' });
			toast(`Deleted “${d.name}”`);
			go('/datasets');
		} catch (err) { fill(msg, errorBox(err, 'Cannot delete')); }
	});
	const sheet = h('img', { class: 'sheet', src: `/api/v1/datasets/${d.id}/thumbs`, alt: `Thumbnails of the ${d.images} accepted images`, loading: 'lazy' });
	main.append(
		h('div', { class: 'spread' }, h1, h('div', { class: 'row' },
			h('a', { class: 'button primary', href: `#/convert?dataset=${d.id}` }, 'Convert with this set…'), del)),
		h('ul', { class: 'meta' },
			h('li', null, badge(`${d.images} accepted`, 'ok')),
			h('li', null, badge(`${rejected.length} rejected`, rejected.length ? 'bad' : '')),
			h('li', null, `archive ${bytes(d.size)}`),
			h('li', null, 'uploaded ', when(d.created))),
		msg,
		h('div', { class: 'grid' },
			h('section', { class: 'card', 'aria-labelledby': 'st-h' },
				h('h2', { id: 'st-h' }, 'Images'),
				h('dl', { class: 'kv' },
					h('dt', null, 'entries read'), h('dd', null, st.entries ?? '—'),
					h('dt', null, 'formats'), h('dd', null, Object.entries(st.formats || {}).map(([k, v]) => `${k} ${v}`).join(', ') || '—'),
					stat('width', st.width), stat('height', st.height),
					h('dt', null, 'grayscale'), h('dd', null, st.grayscale ?? 0),
					h('dt', null, 'duplicates'), h('dd', null, st.duplicates ?? 0),
					h('dt', null, 'decoded bytes'), h('dd', null, st.bytes ? bytes(st.bytes) : '—'))),
			h('section', { class: 'card', 'aria-labelledby': 'rj-h' },
				h('h2', { id: 'rj-h' }, 'Rejected entries'),
				rejected.length
					? table(['Entry', 'Reason'], rejected.map((r) => h('tr', null, h('td', { class: 'name mono small' }, r.entry), h('td', null, r.reason))), { id: 'rejected' })
					: h('p', { class: 'muted', id: 'rejected' }, 'None: every entry is a usable image.'))),
		h('section', { 'aria-labelledby': 'sh-h' }, h('h2', { id: 'sh-h' }, 'Contact sheet'), sheet));
	pageTitle(h1, d.name);
}
