// upload: a drop zone with a file picker and a real progress bar (bytes
// and percent, from XMLHttpRequest's upload events), with Cancel.  Used for
// models and calibration archives.  onDone(record) gets the 201 (model) or 202 (dataset, still being checked) body.
// With `many` (calibration sets), several images or a whole folder can be
// picked or dropped too: they are packed into one tar (components/tarball.js)
// and sent as an archive would be, so the server checks them the same way.
import { upload } from '../api.js';
import { curlButton, curlOf } from './curl.js';
import { droppedFiles, tarball } from './tarball.js';
import { bytes, errorBox, fill, h, safeName } from '../ui.js';

export function uploader({ id, label, accept, hint, endpoint, onDone, busyText = 'Checking on the server…', many = null }) {
	const input = h('input', { type: 'file', id: id + '-file', accept });
	const nameInput = h('input', { id: id + '-name', name: 'name', autocomplete: 'off', placeholder: 'from the file name', pattern: '[A-Za-z0-9._-]{1,64}' });
	const zone = h('label', { class: 'drop', for: id + '-file' },
		h('span', { class: 'big' }, label),
		h('span', { class: 'muted' }, 'Drop a file here, or press to choose one'),
		hint ? h('span', { class: 'muted small' }, hint) : null,
		input);
	const status = h('div', { class: 'progress', hidden: true, 'aria-live': 'polite' });
	const bar = h('progress', { max: 100, value: 0, 'aria-label': 'Upload progress' });
	const line = h('div', { class: 'line' });
	const cancel = h('button', { type: 'button', class: 'small' }, 'Cancel');
	const errors = h('div');
	status.append(bar, line);
	let current = null;

	function start(file) {
		if (current) return;
		errors.replaceChildren();
		const name = nameInput.value.trim() || safeName(file.name);
		const sep = endpoint.includes('?') ? '&' : '?';
		status.hidden = false;
		bar.value = 0;
		const t0 = performance.now();
		const show = (sent, total) => {
			const pct = total ? Math.floor((sent / total) * 100) : 0;
			bar.value = pct;
			const secs = (performance.now() - t0) / 1000;
			const rate = secs > 0.3 ? ` · ${bytes(sent / secs)}/s` : '';
			fill(line, h('span', { class: 'upload-bytes' }, `${file.name}: ${bytes(sent)} of ${bytes(total)}${rate}`),
				h('span', { class: 'upload-pct' }, `${pct} %`), cancel);
		};
		show(0, file.size);
		current = upload(`${endpoint}${sep}name=${encodeURIComponent(name)}`, file, {
			onProgress: show,
			onSent: () => { bar.removeAttribute('value'); fill(line, h('span', null, `${file.name}: all ${bytes(file.size)} sent. ${busyText}`), cancel); },
		});
		current.promise.then((rec) => {
			current = null;
			status.hidden = true;
			input.value = '';
			nameInput.value = '';
			onDone(rec);
		}, (err) => {
			current = null;
			status.hidden = true;
			input.value = '';
			fill(errors, errorBox(err, err.code === 'aborted' ? 'Upload cancelled' : 'Upload failed'));
		});
	}

	// Several files, or a folder's files, as one archive named after the
	// folder (or "images"); the set's name defaults to that too.
	function startMany(picked, folder) {
		if (!picked.length) return;
		const base = safeName(folder || 'images');
		if (!nameInput.value.trim()) nameInput.value = base;
		start(tarball(picked, `${base}.tar`));
	}

	cancel.addEventListener('click', () => current && current.abort());
	input.addEventListener('change', () => input.files[0] && start(input.files[0]));
	for (const t of ['dragenter', 'dragover']) zone.addEventListener(t, (ev) => { ev.preventDefault(); zone.classList.add('over'); });
	for (const t of ['dragleave', 'drop']) zone.addEventListener(t, () => zone.classList.remove('over'));
	zone.addEventListener('drop', async (ev) => {
		ev.preventDefault();
		const files = [...ev.dataTransfer.files];
		const items = ev.dataTransfer.items;
		const dirs = many && items ? [...items].map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter((e) => e && e.isDirectory) : [];
		if (many && (dirs.length || files.length > 1)) {
			try {
				const picked = await droppedFiles(items);
				startMany(picked, dirs.length === 1 ? dirs[0].name : null);
			} catch (err) {
				fill(errors, errorBox(err, 'Cannot read the dropped folder'));
			}
			return;
		}
		if (files[0]) start(files[0]);
	});
	let pickers = null;
	if (many) {
		// webkitRelativePath is "folder/sub/a.jpg" for a picked folder
		const filesIn = h('input', { type: 'file', id: id + '-files', multiple: true, accept: many.accept, class: 'visually-hidden' });
		const folderIn = h('input', { type: 'file', id: id + '-folder', webkitdirectory: true, multiple: true, class: 'visually-hidden' });
		filesIn.addEventListener('change', () => {
			startMany([...filesIn.files].map((f) => ({ path: f.name, file: f })), null);
			filesIn.value = '';
		});
		folderIn.addEventListener('change', () => {
			const list = [...folderIn.files];
			const top = list.length ? list[0].webkitRelativePath.split('/')[0] : null;
			startMany(list.map((f) => ({ path: f.webkitRelativePath || f.name, file: f })), top);
			folderIn.value = '';
		});
		pickers = h('div', { class: 'row pickers' },
			h('span', { class: 'muted small' }, 'or'),
			h('label', { class: 'button', for: id + '-files' }, 'Choose images…'), filesIn,
			h('label', { class: 'button', for: id + '-folder' }, 'Choose a folder…'), folderIn,
			h('span', { class: 'muted small' }, many.hint || ''));
	}
	// The same upload from a shell: the file as the raw body, ?name= names it.
	const example = many ? 'calib.tar.gz' : 'model.onnx';
	const curl = curlButton(() => {
		const name = nameInput.value.trim() || safeName(input.files[0] ? input.files[0].name : example);
		const sep = endpoint.includes('?') ? '&' : '?';
		return curlOf({ method: 'POST', path: `${endpoint}${sep}name=${encodeURIComponent(name)}`,
			upload: input.files[0] ? input.files[0].name : example });
	}, { id: id + '-curl' });
	return h('div', { class: 'uploader' },
		h('div', { class: 'field' },
			h('label', { for: id + '-name' }, 'Name ', h('span', { class: 'hint' }, '(optional; 1-64 of A-Z a-z 0-9 . _ -)')),
			nameInput),
		zone, pickers, status, errors, curl);
}
