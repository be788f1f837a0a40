// datasets: upload a calibration archive (tar, tar.gz, tar.xz, zip), or
// several images or a folder of them, with progress, and the list of
// calibration sets.  An upload lands on the new
// set's page, which follows the server's check (state "ingesting" with
// progress) and then shows accepted count, rejected entries, thumbnails.
import { list } from '../api.js';
import { uploader } from '../components/upload.js';
import { badge, bytes, errorBox, fill, h, pageTitle, table, when } from '../ui.js';

function stateCell(d) {
	if (d.state === 'ingesting')
		return h('span', null, h('progress', { max: 1, value: d.progress || 0, 'aria-label': `checking ${d.name}` }), ` ${Math.round((d.progress || 0) * 100)} %`);
	return badge(d.state || 'ready', !d.state || d.state === 'ready' ? 'ok' : 'bad');
}

export default async function render(main, { go }) {
	const h1 = h('h1', null, 'Calibration sets');
	const listBox = h('div', { 'aria-live': 'polite' });
	const more = h('button', { type: 'button', hidden: true }, 'Load more');
	let next = null;
	const rows = [];

	async function load(append) {
		try {
			const page = await list('/datasets', { limit: 50, after: append ? next : null });
			if (!append) rows.length = 0;
			for (const d of page.items) {
				rows.push(h('tr', null,
					h('td', { class: 'name' }, h('a', { href: `#/datasets/${d.id}` }, d.name)),
					h('td', null, stateCell(d)),
					h('td', { class: 'num' }, d.images ?? '—'),
					h('td', { class: 'num' }, d.rejected ? (Array.isArray(d.rejected) ? d.rejected.length : d.rejected) : 0),
					h('td', { class: 'num' }, bytes(d.size)),
					h('td', null, when(d.created))));
			}
			next = page.next;
			more.hidden = next === null;
			fill(listBox, rows.length ? table(['Name', 'State', 'Images', 'Rejected', 'Archive', 'Uploaded'], rows, { id: 'datasets-table' })
				: h('p', { class: 'empty' }, 'No calibration sets yet: upload an archive of typical input images above.'));
		} catch (err) {
			fill(listBox, errorBox(err, 'Cannot list calibration sets'));
		}
	}
	more.addEventListener('click', () => load(true));

	main.append(h1,
		h('section', { class: 'card', 'aria-labelledby': 'dup-h' },
			h('h2', { id: 'dup-h' }, 'Upload a calibration set'),
			h('p', { class: 'muted' }, 'A few hundred images like the ones the camera will see. Every entry is checked; broken or unsupported ones are listed with the reason and left out.'),
			uploader({
				id: 'dataset', label: 'Image archive (.tar, .tar.gz, .tar.xz, .zip)',
				accept: '.tar,.gz,.tgz,.xz,.txz,.zip,application/x-tar,application/gzip,application/zip',
				hint: 'JPEG and PNG inside; folders are fine. Or drop the images or their folder here.', endpoint: '/datasets',
				busyText: 'Checking every image…', onDone: (d) => go(`/datasets/${d.id}`),
				many: { accept: 'image/jpeg,image/png,.jpg,.jpeg,.png', hint: 'packed into one archive here, checked the same way' },
			})),
		h('section', { 'aria-labelledby': 'dl-h' }, h('h2', { id: 'dl-h' }, 'Stored sets'), listBox, more));
	pageTitle(h1, 'Calibration sets');
	await load(false);
}
