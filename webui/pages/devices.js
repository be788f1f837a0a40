// devices: register a board (target, ssh/adb address), see when it was last
// seen and what it runs, assign a bundle, and Deploy & test: the preview
// picture with the boxes the server drew, the latency of each run as a
// chart, and the raw result on demand.
import { api, list } from '../api.js';
import { loadTargets } from '../components/toolchains.js';
import { badge, errorBox, fill, h, pageTitle, s, table, when } from '../ui.js';

// Milliseconds with enough digits to tell runs of a few microseconds apart.
const ms = (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v > 0 ? v.toPrecision(2) : '0');

function latencyChart(runs) {
	const vals = runs.map((r) => (typeof r === 'number' ? r : r.latency_ms ?? r.ms ?? 0));
	if (!vals.length) return null;
	const W = 320, H = 120, max = Math.max(...vals) || 1;
	const bw = (W - 40) / vals.length;
	const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'xMinYMid meet', role: 'img', 'aria-label': 'Latency per run (ms): ' + vals.map(ms).join(', ') },
		s('line', { class: 'axis', x1: 36, y1: H - 16, x2: W, y2: H - 16 }),
		s('text', { x: 0, y: 12 }, `${ms(max)} ms`), s('text', { x: 0, y: H - 18 }, '0'));
	vals.forEach((v, i) => svg.append(s('rect', { class: 'pt', x: 40 + i * bw, y: H - 16 - (v / max) * (H - 30), width: Math.max(1, bw - 2), height: (v / max) * (H - 30) })));
	return svg;
}

async function pollDeployment(id, box) {
	for (let i = 0; i < 600; i++) {
		const d = await api(`/deployments/${id}`);
		const done = ['succeeded', 'failed', 'cancelled'].includes(d.state);
		const runs = (d.result && (d.result.latency_ms || d.result.runs)) || [];
		const preview = d.preview || (d.result && d.result.preview);
		fill(box, h('p', null, 'Deployment ', badge(d.state, d.state === 'succeeded' ? 'ok' : d.state === 'failed' ? 'bad' : 'accent')),
			d.error ? h('div', { class: 'alert bad', role: 'alert' }, h('strong', null, (d.error.code || 'error') + ': '), d.error.message || String(d.error)) : null,
			preview ? h('img', { class: 'preview', src: typeof preview === 'string' ? preview : `/api/v1/deployments/${id}/preview`, alt: 'Test image with the detected boxes drawn' }) : null,
			runs.length ? [h('h3', null, 'Latency per run'), latencyChart(runs)] : null,
			h('details', null, h('summary', null, 'Raw result (JSON)'), h('pre', { class: 'small' }, JSON.stringify(d, null, 2))));
		if (done) return;
		await new Promise((r) => setTimeout(r, 1000));
	}
}

function jpegBase64(file) {
	return new Promise((resolve, reject) => {
		const r = new FileReader();
		r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
		r.onerror = () => reject(r.error);
		r.readAsDataURL(file);
	});
}

export default async function render(main) {
	const h1 = h('h1', null, 'Devices');
	main.append(h1);
	pageTitle(h1, 'Devices');
	const listBox = h('div', { 'aria-live': 'polite' });
	const out = h('div', { 'aria-live': 'polite' });
	let targets = [];
	try { targets = (await loadTargets()).targets || []; } catch { targets = []; }
	let bundles = [];
	try { bundles = (await list('/bundles', { limit: 200 })).items; } catch { bundles = []; }

	const name = h('input', { id: 'd-name', autocomplete: 'off', required: true, pattern: '[A-Za-z0-9._-]{1,64}' });
	// The boards come from GET /api/v1/targets only: without it the form
	// says so rather than offering a list kilnd may not accept.
	const target = h('select', { id: 'd-target', required: true },
		targets.length ? targets.map((t) => h('option', { value: t.id }, t.label ? `${t.label} (${t.id})` : t.id))
			: h('option', { value: '', disabled: true }, 'boards unavailable: GET /api/v1/targets failed'));
	const transport = h('select', { id: 'd-transport' }, h('option', { value: 'ssh' }, 'ssh'), h('option', { value: 'adb' }, 'adb'));
	const address = h('input', { id: 'd-address', autocomplete: 'off', placeholder: 'root@<board address>:22 or adb serial' });
	const cred = h('input', { id: 'd-cred', autocomplete: 'off', placeholder: 'key name kept by kilnd (optional)' });
	const modelsDir = h('input', { id: 'd-models', autocomplete: 'off', placeholder: '/root/models' });
	const image = h('input', { id: 'd-image', type: 'file', accept: 'image/jpeg' });
	const formErr = h('div');
	const form = h('form', { class: 'card', novalidate: true },
		h('h2', null, 'Register a board'),
		h('div', { class: 'grid' },
			h('div', { class: 'field' }, h('label', { for: 'd-name' }, 'Name'), name),
			h('div', { class: 'field' }, h('label', { for: 'd-target' }, 'Target'), target),
			h('div', { class: 'field' }, h('label', { for: 'd-transport' }, 'Transport'), transport),
			h('div', { class: 'field' }, h('label', { for: 'd-address' }, 'Address'), address),
			h('div', { class: 'field' }, h('label', { for: 'd-cred' }, 'Credentials reference'), cred),
			h('div', { class: 'field' }, h('label', { for: 'd-models' }, 'Models directory on the board'), modelsDir)),
		formErr, h('button', { type: 'submit', class: 'primary' }, 'Register'));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		formErr.replaceChildren();
		try {
			const body = { name: name.value.trim(), target: target.value, transport: transport.value, address: address.value.trim() };
			if (cred.value.trim()) body.credentials = cred.value.trim();
			if (modelsDir.value.trim()) body.models_dir = modelsDir.value.trim();
			const d = await api('/devices', { method: 'POST', json: body });
			fill(out, h('div', { class: 'alert ok', role: 'status' }, h('strong', null, `Registered “${d.name || body.name}”.`),
				d.token ? h('p', null, 'Its pull token (shown once): ', h('code', null, d.token)) : null,
				d.ssh_public_key ? h('p', null, 'Add this key to the board\'s ~/.ssh/authorized_keys: ', h('code', { id: 'd-pubkey', class: 'small' }, d.ssh_public_key)) : null));
			form.reset();
			load();
		} catch (err) { fill(formErr, errorBox(err, 'Cannot register')); }
	});

	async function load() {
		try {
			const page = await list('/devices', { limit: 200 });
			const rows = page.items.map((d) => {
				const pick = h('select', { 'aria-label': `Bundle for ${d.name}` }, h('option', { value: '' }, 'choose a bundle…'),
					bundles.filter((b) => !b.target || b.target === d.target).map((b) => h('option', { value: b.id }, `#${b.id} ${b.name || ''}`)));
				const assign = h('button', { type: 'button', class: 'small' }, 'Assign');
				const deploy = h('button', { type: 'button', class: 'small primary' }, 'Deploy & test');
				assign.addEventListener('click', async () => {
					try { await api(`/devices/${d.id}/assignment`, { method: 'PUT', json: { bundle: Number(pick.value) } }); load(); } catch (err) { fill(out, errorBox(err, 'Cannot assign')); }
				});
				deploy.addEventListener('click', async () => {
					try {
						const test = { runs: 10 };
						if (image.files[0]) test.image = await jpegBase64(image.files[0]);
						const dep = await api('/deployments', { method: 'POST', json: { bundle: Number(pick.value), device: d.id, test } });
						await pollDeployment(dep.id, out);
						load();
					} catch (err) { fill(out, errorBox(err, 'Cannot deploy')); }
				});
				return h('tr', null, h('td', { class: 'name' }, d.name), h('td', null, d.target), h('td', null, `${d.transport || ''} ${d.address || ''}`),
					h('td', null, when(d.last_seen)), h('td', null, d.installed_bundle != null ? `#${d.installed_bundle}` : '—'),
					h('td', null, h('div', { class: 'row' }, pick, assign, deploy)));
			});
			fill(listBox, rows.length ? table(['Name', 'Target', 'Address', 'Last seen', 'Installed', 'Assign / deploy'], rows, { id: 'devices-table' })
				: h('p', { class: 'empty' }, 'No devices yet: register a board above.'));
		} catch (err) { fill(listBox, errorBox(err, 'Cannot list devices')); }
	}
	main.append(form, out, h('h2', null, 'Boards'),
		h('div', { class: 'field' }, h('label', { for: 'd-image' }, 'Test image for Deploy & test (JPEG, optional: without one there is no preview)'), image),
		listBox);
	await load();
}
