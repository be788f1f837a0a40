// docs: the API reference, drawn from the one document kilnd serves
// (GET /api/v1/openapi.json, schema/openapi.json): routes grouped by
// resource, each with its role, parameters, request body, answers and a
// curl line to copy.  Nothing here is written by hand, so the page cannot
// drift from the route table (tests/integration/test_openapi.py checks the
// document against it).
import { api } from '../api.js';
import { badge, debounce, fill, h, pageTitle, toast } from '../ui.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

// #/components/... → the object; external $refs (the job spec) stay names.
function deref(doc, o) {
	for (let i = 0; o && o.$ref && o.$ref.startsWith('#/') && i < 8; i++) {
		o = o.$ref.slice(2).split('/').reduce((a, k) => (a ? a[k] : undefined), doc);
	}
	return o || {};
}

function typeText(doc, sc) {
	sc = sc || {};
	if (sc.$ref && !sc.$ref.startsWith('#/')) return sc.$ref.replace(/^.*\//, '');
	if (sc.$ref) return sc.$ref.replace(/^.*\//, '');
	if (sc.enum) return sc.enum.map((v) => JSON.stringify(v)).join(' | ');
	if (Array.isArray(sc.type)) return sc.type.join(' | ');
	if (sc.type === 'array') return `${typeText(doc, sc.items)}[]`;
	let t = sc.type || 'any';
	if (sc.minimum !== undefined || sc.maximum !== undefined) t += ` ${sc.minimum ?? ''}…${sc.maximum ?? ''}`;
	return t;
}

// A body to show in the curl line: the schema's example, or its required
// properties with a placeholder of their type.
function exampleOf(doc, sc) {
	sc = deref(doc, sc);
	if (sc.example !== undefined) return sc.example;
	if (sc.examples && sc.examples.length) return sc.examples[0];
	if (sc.type !== 'object' || !sc.properties) return null;
	const out = {};
	for (const k of sc.required || Object.keys(sc.properties).slice(0, 2)) {
		const p = deref(doc, sc.properties[k] || {});
		out[k] = p.example ?? (p.enum ? p.enum[0] : p.type === 'integer' || p.type === 'number' ? 1 : p.type === 'array' ? [] : p.type === 'boolean' ? true : p.type === 'object' ? {} : k);
	}
	return out;
}

function curlOf(doc, method, path, op) {
	const url = path.replace(/\{(\w+)\*?\}/g, (_, n) => (n === 'id' ? '1' : n === 'name' ? 'model.cvimodel' : n));
	const parts = ['curl -fsS'];
	if (op['x-kiln-role'] !== 'anon') parts.push('-H "Authorization: Bearer $TOKEN"');
	if (method !== 'get') parts.push(`-X ${method.toUpperCase()}`);
	const body = op.requestBody && op.requestBody.content;
	if (body && body['application/json']) {
		const mt = body['application/json'];
		const ex = mt.example !== undefined ? mt.example : exampleOf(doc, mt.schema);
		parts.push("-H 'Content-Type: application/json'", `-d '${JSON.stringify(ex ?? {})}'`);
	} else if (body && body['application/octet-stream']) {
		parts.push('--data-binary @FILE', "-H 'Content-Type: application/octet-stream'");
	} else if (body) {
		parts.push(`-H 'Content-Type: ${Object.keys(body)[0]}' --data-binary @FILE`);
	}
	const q = (op.parameters || []).filter((p) => p.in === 'query' && p.required);
	const qs = q.length ? '?' + q.map((p) => `${p.name}=…`).join('&') : '';
	parts.push(`"$KILN${url}${qs}"`);
	return parts.join(' ');
}

function schemaTable(doc, sc) {
	sc = deref(doc, sc);
	if (!sc.properties) return h('p', { class: 'mono small' }, typeText(doc, sc));
	const req = new Set(sc.required || []);
	return h('table', { class: 'params' }, h('tbody', null, Object.entries(sc.properties).map(([k, p]) =>
		h('tr', null, h('td', { class: 'mono' }, k, req.has(k) ? h('span', { class: 'req', title: 'required' }, ' *') : null),
			h('td', { class: 'mono muted' }, typeText(doc, p)), h('td', { class: 'small' }, deref(doc, p).description || '')))));
}

function operation(doc, path, method, op) {
	const id = op.operationId || `${method}-${path}`;
	const params = (op.parameters || []).map((p) => deref(doc, p));
	const curl = curlOf(doc, method, path, op);
	const copy = h('button', { type: 'button', class: 'small', 'aria-label': `Copy the curl line of ${method.toUpperCase()} ${path}` }, 'Copy');
	copy.addEventListener('click', async () => { try { await navigator.clipboard.writeText(curl); toast('Copied'); } catch { toast('Select the line and copy it by hand'); } });
	const body = op.requestBody && op.requestBody.content;
	const answers = Object.entries(op.responses || {}).map(([code, r]) => {
		const rr = deref(doc, r);
		return h('li', null, h('span', { class: `status s${code[0]}` }, code), ' ', rr.description || '');
	});
	return h('details', { class: 'op', id: `op-${id}`, dataset: { op: id, search: `${method} ${path} ${op.summary || ''}`.toLowerCase() } },
		h('summary', null, h('span', { class: `method m-${method}` }, method.toUpperCase()), ' ', h('code', { class: 'path' }, path),
			' ', h('span', { class: 'summary' }, op.summary || ''), ' ', badge(op['x-kiln-role'] || 'user', op['x-kiln-role'] === 'admin' ? 'sugg' : '')),
		op.description ? h('p', null, op.description) : null,
		params.length ? [h('h4', null, 'Parameters'), h('table', { class: 'params' }, h('tbody', null, params.map((p) =>
			h('tr', null, h('td', { class: 'mono' }, p.name, p.required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
				h('td', { class: 'muted small' }, p.in), h('td', { class: 'mono muted' }, typeText(doc, p.schema)), h('td', { class: 'small' }, p.description || '')))))] : null,
		body ? [h('h4', null, 'Body ', h('span', { class: 'muted small' }, Object.keys(body).join(', '), op.requestBody.required ? ' · required' : '')),
			op.requestBody.description ? h('p', { class: 'small' }, op.requestBody.description) : null,
			Object.values(body)[0].schema ? schemaTable(doc, Object.values(body)[0].schema) : null] : null,
		h('h4', null, 'Answers'), h('ul', { class: 'answers' }, answers),
		h('h4', null, 'Example'), h('div', { class: 'curl' }, h('code', null, curl), copy));
}

export default async function render(main, { query }) {
	const doc = await api('/openapi.json', { quiet401: true });
	const h1 = h('h1', null, doc.info.title);
	const groups = new Map();
	groups.set('service', []);
	for (const [path, item] of Object.entries(doc.paths)) {
		// Resources by their first segment; the service's own routes (the
		// dashboard, health, metrics, this document) together at the end.
		const seg = path.startsWith('/api/v1/') ? path.split('/')[3] : '';
		const g = !seg || seg === 'openapi.json' ? 'service' : seg;
		if (!groups.has(g)) groups.set(g, []);
		for (const m of METHODS) if (item[m]) groups.get(g).push([path, m, item[m]]);
	}
	const service = groups.get('service');
	groups.delete('service');
	groups.set('service', service);
	const count = [...groups.values()].reduce((a, l) => a + l.length, 0);
	const filter = h('input', { type: 'search', id: 'docs-filter', placeholder: 'Filter: a path, a method, a word', autocomplete: 'off' });
	const shown = h('span', { class: 'muted small', 'aria-live': 'polite' });
	const sections = [...groups].map(([g, ops]) => h('section', { class: 'api-group', id: `g-${g}`, 'aria-labelledby': `gh-${g}` },
		h('h2', { id: `gh-${g}` }, g), ops.map(([p, m, op]) => operation(doc, p, m, op))));
	const toc = h('nav', { class: 'toc', 'aria-label': 'Resources' }, h('ul', null, [...groups].map(([g, ops]) =>
		h('li', null, h('a', { href: `#/docs?group=${g}` }, g), h('span', { class: 'muted small' }, ` ${ops.length}`)))));
	function apply() {
		const q = filter.value.trim().toLowerCase();
		let n = 0;
		for (const d of main.querySelectorAll('details.op')) {
			const hit = !q || d.dataset.search.includes(q);
			d.hidden = !hit;
			if (hit) n++;
		}
		for (const s of main.querySelectorAll('section.api-group')) s.hidden = !s.querySelector('details.op:not([hidden])');
		fill(shown, q ? `${n} of ${count} operations` : `${count} operations`);
	}
	filter.addEventListener('input', debounce(apply, 120));
	main.classList.add('wide');
	main.append(h('div', { class: 'docs' }, h('div', { class: 'docs-head' }, h1,
		h('p', null, doc.info.description || ''),
		h('p', { class: 'small' }, 'Every ', h('code', null, '/api/'), ' request carries ', h('code', null, 'Authorization: Bearer $TOKEN'),
			' (a token from Admin · Tokens) or the dashboard\'s session. The examples use ', h('code', null, 'KILN=' + location.origin), '. The same document as JSON: ',
			h('a', { href: '/api/v1/openapi.json' }, '/api/v1/openapi.json'), '.'),
		h('div', { class: 'field' }, h('label', { for: 'docs-filter', class: 'small' }, 'Filter'), filter, shown)),
	toc, h('div', { class: 'docs-body' }, sections)));
	pageTitle(h1, 'API');
	apply();
	const g = query.get('group');
	if (g && document.getElementById(`g-${g}`)) document.getElementById(`g-${g}`).scrollIntoView();
}
