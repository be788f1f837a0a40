// models: upload an ONNX model (drag and drop or picker, real progress) and
// the list of stored models with search.  An upload lands on the new
// model's page, where its inspection and suggested outputs are.
import { list } from '../api.js';
import { uploader } from '../components/upload.js';
import { badge, bytes, debounce, errorBox, fill, h, labelRows, pageTitle, shape, table, when } from '../ui.js';

const HEAD = ['Name', 'Looks like', 'Inputs', 'Nodes', 'Size', 'Uploaded'];

function inputsCell(m) {
	const ins = (m.summary && m.summary.inputs) || [];
	if (!ins.length) return '—';
	return ins.map((i) => h('div', null, h('span', { class: 'muted small' }, i.name, ' '), shape(i.shape)));
}

function row(m) {
	return h('tr', null,
		h('td', { class: 'name' }, h('a', { href: `#/models/${m.id}` }, m.name),
			m.parent ? h('div', { class: 'muted small' }, 'derived from ', h('a', { href: `#/models/${m.parent}` }, `#${m.parent}`)) : null),
		h('td', null, m.suggested_model_type ? badge(m.suggested_model_type, 'sugg') : h('span', { class: 'muted' }, '—')),
		h('td', null, inputsCell(m)),
		h('td', { class: 'num' }, m.summary && m.summary.node_count !== undefined ? m.summary.node_count : '—'),
		h('td', { class: 'num' }, bytes(m.size)),
		h('td', null, when(m.created)));
}

export default async function render(main, { go }) {
	const h1 = h('h1', null, 'Models');
	const search = h('input', { type: 'search', id: 'model-search', placeholder: 'Search by name', autocomplete: 'off' });
	const body = h('tbody');
	const more = h('button', { type: 'button', hidden: true }, 'Load more');
	const listBox = h('div', { 'aria-live': 'polite' });
	let next = null;
	let query = '';

	async function load(append) {
		try {
			const page = await list('/models', { limit: 50, after: append ? next : null, q: query || null });
			if (!append) body.replaceChildren();
			// the body is filled here, not by table(): label the cells for phones
			body.append(...labelRows(HEAD, page.items.map(row)));
			next = page.next;
			more.hidden = next === null;
			if (!append && page.items.length === 0) {
				fill(listBox, h('p', { class: 'empty' }, query ? `No model's name contains “${query}”.` : 'No models yet: upload an ONNX file above.'));
			} else {
				fill(listBox, table(HEAD, [], { id: 'models-table' }));
				listBox.querySelector('table').replaceChild(body, listBox.querySelector('tbody'));
			}
		} catch (err) {
			fill(listBox, errorBox(err, 'Cannot list models'));
		}
	}

	search.addEventListener('input', debounce(() => { query = search.value.trim(); load(false); }, 200));
	more.addEventListener('click', () => load(true));

	main.append(h1,
		h('section', { class: 'card', 'aria-labelledby': 'up-h' },
			h('h2', { id: 'up-h' }, 'Upload a model'),
			uploader({
				id: 'model', label: 'ONNX model (.onnx)', accept: '.onnx,application/octet-stream',
				hint: 'Inspected on upload: inputs and outputs, operators per target, suggested output nodes.',
				endpoint: '/models', busyText: 'Inspecting the model…',
				onDone: (m) => go(`/models/${m.id}`),
			})),
		h('section', { 'aria-labelledby': 'list-h' },
			h('div', { class: 'spread' }, h('h2', { id: 'list-h' }, 'Stored models'),
				h('div', { class: 'field' }, h('label', { for: 'model-search', class: 'small' }, 'Search'), search)),
			listBox, more));
	pageTitle(h1, 'Models');
	await load(false);
}
