// dataset: one calibration set — accepted and rejected counts, each
// rejected entry with its reason, size statistics, the contact sheet, and
// a gallery of every accepted image with its file name and size.
// An upload is answered before its images are checked (202, state
// "ingesting"): this page then shows the ingest's progress, polling the
// record, and draws the set once it is "ready" or "rejected".
import { api } from '../api.js';
import { badge, bytes, errorBox, fill, h, pageTitle, table, toast, when } from '../ui.js';

function stat(name, s) {
	if (!s) return null;
	return [h('dt', null, name), h('dd', null, `${s.min} – ${s.max} px (median ${s.median})`)];
}

// Shows the ingest's progress until the set leaves "ingesting"; returns the
// final record, or null when the user went to another page meanwhile.
async function followIngest(main, d) {
	const h1 = h('h1', null, d.name);
	const bar = h('progress', { max: 1, value: d.progress || 0, id: 'ingest-progress' });
	const pct = h('span', null, `${Math.round((d.progress || 0) * 100)} %`);
	const msg = h('div');
	main.append(h1, h('section', { class: 'card progress', 'aria-live': 'polite' },
		h('h2', null, 'Checking every image…'),
		h('p', { class: 'muted' }, 'Each entry of the archive is read, decoded and normalised on the server. You can leave this page: the set keeps being checked.'),
		bar, h('div', { class: 'line' }, h('span', null, 'progress'), pct)), msg);
	pageTitle(h1, d.name);
	while (d.state === 'ingesting') {
		await new Promise((r) => setTimeout(r, 700));
		if (!bar.isConnected) return null;
		try {
			d = await api(`/datasets/${d.id}`);
		} catch (err) {
			fill(msg, errorBox(err, 'Cannot read the calibration set'));
			continue;
		}
		bar.value = d.progress || 0;
		pct.textContent = `${Math.round((d.progress || 0) * 100)} %`;
	}
	main.replaceChildren();
	return d;
}

// The accepted images, PAGE at a time (a set can hold 500 and more), each
// with its entry name and size; the <img>s load lazily, as they scroll in.
// Each is the JPEG kilnd stored (GET …/images/{n}, from 1).
const PAGE = 60;
function gallery(d) {
	const list = d.image_list || [];
	const grid = h('ul', { class: 'gallery', id: 'gallery', role: 'list' });
	const count = h('p', { class: 'small muted', id: 'gallery-count' });
	const more = h('button', { type: 'button', id: 'gallery-more' });
	let shown = 0;
	const page = () => {
		const end = Math.min(list.length, shown + PAGE);
		grid.append(...list.slice(shown, end).map((im, k) => {
			const src = `/api/v1/datasets/${d.id}/images/${shown + k + 1}`;
			return h('li', null, h('figure', null,
				h('a', { href: src, target: '_blank', rel: 'noopener' },
					h('img', { src, alt: im.entry, loading: 'lazy', width: 160, height: Math.max(1, Math.round((160 * im.height) / Math.max(1, im.width))) })),
				h('figcaption', null, h('span', { class: 'mono small entry', title: im.entry }, im.entry),
					h('span', { class: 'small muted' }, `${im.width} × ${im.height} px`))));
		}));
		shown = end;
		count.textContent = `Showing ${shown} of ${list.length}`;
		more.textContent = `Show ${Math.min(PAGE, list.length - shown)} more`;
		more.hidden = shown >= list.length;
	};
	more.addEventListener('click', page);
	page();
	return [count, grid, more];
}

export default async function render(main, { params, go }) {
	let d = await api(`/datasets/${params.id}`);
	if (d.state === 'ingesting') {
		d = await followIngest(main, d);
		if (d === null) return;
	}
	const ready = d.state === 'ready';
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
	const sheet = ready
		? h('img', { class: 'sheet', src: `/api/v1/datasets/${d.id}/thumbs`, alt: `Thumbnails of the ${d.images} accepted images`, loading: 'lazy' })
		: h('p', { class: 'muted' }, 'No images were kept.');
	// A refused archive keeps its record so the reasons stay readable.
	const refusal = ready ? null : h('div', { class: 'alert bad', role: 'alert', id: 'dataset-error' },
		h('strong', null, d.state === 'rejected' ? 'The archive was refused' : 'The check did not finish'),
		(d.error && d.error.message) || d.state,
		d.entries_before_error ? h('p', { class: 'small' }, `Read before the damage: ${d.entries_before_error.slice(-5).join(', ')}`) : null);
	main.append(
		h('div', { class: 'spread' }, h1, h('div', { class: 'row' },
			ready ? h('a', { class: 'button primary', href: `#/convert?dataset=${d.id}` }, 'Convert with this set…') : null, del)),
		refusal || '', // DOM append() would print a null as "null"
		h('ul', { class: 'meta' },
			h('li', null, badge(d.state, ready ? 'ok' : 'bad')),
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
		h('section', { 'aria-labelledby': 'sh-h' }, h('h2', { id: 'sh-h' }, 'Contact sheet'), sheet),
		ready && (d.image_list || []).length
			? h('section', { 'aria-labelledby': 'ga-h' }, h('h2', { id: 'ga-h' }, 'Accepted images'), gallery(d))
			: '');
	pageTitle(h1, d.name);
}
