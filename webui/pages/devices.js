// devices: register a board (ssh, adb, or one that pulls its own bundle),
// see what is assigned to it next to what it runs and when it was last
// seen, assign a bundle (the row keeps saying so), the board's history of
// push deployments and pull reports, the ready-to-paste kiln-pull.sh setup
// for a pull board, and Deploy & test for a push board: the preview picture
// with the boxes the server drew, the latency of each run as a chart, and
// the raw result on demand.  The server's refusals land next to the field
// they name.
import { api, list } from '../api.js';
import { curlButton, curlOf } from '../components/curl.js';
import { deploymentError, deploymentErrorCode, ERROR_TITLE } from '../components/errors.js';
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
			d.error ? h('div', { class: 'alert bad', role: 'alert', id: 'deploy-error', title: deploymentErrorCode(d) }, h('strong', null, ERROR_TITLE[deploymentErrorCode(d)] + ': '), typeof d.error === 'string' ? d.error : d.error.message || '') : null,
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

// A labelled control with room for the server's refusal below it; key is
// the API field the refusal names.
function field(key, label, control, hint) {
	const id = control.id;
	const err = h('span', { class: 'err', id: id + '-err', role: 'alert' });
	control.setAttribute('aria-describedby', [hint ? id + '-hint' : '', id + '-err'].filter(Boolean).join(' '));
	return h('div', { class: 'field', dataset: { field: key } },
		h('label', { for: id }, label), control,
		hint ? h('span', { class: 'hint', id: id + '-hint' }, hint) : null, err);
}

// Single-quoted for sh: nothing inside is expanded.
const sq = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;

// What a person pastes into the board's shell (as root) to make it pull:
// the script from kilnd itself, its settings file (deploy/kiln-pull.sh
// reads /etc/kiln-pull.conf), one run now, then every minute from cron or
// from a systemd timer.  busybox boards have wget when they lack curl.
function pullScripts(url, token, modelsDir) {
	const get = sq(`${url}/api/v1/pull/kiln-pull.sh`);
	const setup = [
		`cd /root && (curl -fsS -o kiln-pull.sh ${get} || wget -q -O kiln-pull.sh ${get})`,
		"cat > /etc/kiln-pull.conf <<'EOF'",
		`KILN_URL=${sq(url)}`, `KILN_TOKEN=${sq(token)}`, `KILN_MODELS_DIR=${sq(modelsDir)}`,
		'EOF',
		'chmod 600 /etc/kiln-pull.conf',
		'sh /root/kiln-pull.sh   # once now: installs the assigned bundle, or says there is none',
	].join('\n');
	const cron = '(crontab -l 2>/dev/null; echo "* * * * * sh /root/kiln-pull.sh >>/var/log/kiln-pull.log 2>&1") | crontab -';
	const systemd = [
		"cat > /etc/systemd/system/kiln-pull.service <<'EOF'",
		'[Unit]', 'Description=Fetch the bundle Kiln assigned to this board',
		'[Service]', 'Type=oneshot', 'ExecStart=/bin/sh /root/kiln-pull.sh', 'EOF',
		"cat > /etc/systemd/system/kiln-pull.timer <<'EOF'",
		'[Timer]', 'OnBootSec=30', 'OnUnitActiveSec=60',
		'[Install]', 'WantedBy=timers.target', 'EOF',
		'systemctl daemon-reload && systemctl enable --now kiln-pull.timer',
	].join('\n');
	return { setup, cron, systemd };
}

function copyButton(pre, label) {
	const b = h('button', { type: 'button', class: 'small', 'aria-label': label }, 'Copy');
	b.addEventListener('click', async () => {
		try { await navigator.clipboard.writeText(pre.textContent); b.textContent = 'Copied'; } catch { b.textContent = 'Select and copy by hand'; }
	});
	return b;
}

// The pull set-up for device d.  token: the one registration showed (only
// then is it known); otherwise a placeholder the person fills in.  where
// keeps the ids apart when the set-up shows twice ('reg', 'row').
function pullSetup(d, token, where) {
	const id = (what) => `${where}-pull-${what}-${d.id}`;
	const url = h('input', { id: id('url'), value: location.origin, autocomplete: 'off', size: 40 });
	const box = h('div', { class: 'pull-setup', id: id('setup') });
	const draw = () => {
		const t = token || '<the device token shown when the board was registered>';
		const p = pullScripts(url.value.replace(/\/+$/, ''), t, d.models_dir || '/root/models');
		const pres = {
			setup: h('pre', { class: 'small', id: id('sh') }, p.setup),
			cron: h('pre', { class: 'small', id: id('cron') }, p.cron),
			systemd: h('pre', { class: 'small', id: id('systemd') }, p.systemd),
		};
		fill(box,
			h('p', null, '1. On the board, as root: fetch kiln-pull.sh, give it this board\'s settings and run it once. ', copyButton(pres.setup, 'Copy the set-up commands')), pres.setup,
			h('p', null, '2. Then every minute, from cron ', copyButton(pres.cron, 'Copy the cron line')), pres.cron,
			h('p', null, '… or, on a board with systemd, from a timer ', copyButton(pres.systemd, 'Copy the systemd units')), pres.systemd);
	};
	url.addEventListener('input', draw);
	draw();
	return h('div', null,
		token ? h('p', null, 'Device token (shown once; kilnd keeps only its hash): ', h('code', { id: id('token') }, token)) : null,
		h('div', { class: 'field' }, h('label', { for: url.id }, 'Kiln’s address as the board reaches it'), url),
		box,
		h('p', { class: 'small' }, 'Each run asks for the assigned bundle (an unchanged one costs one small 304), checks its sha256, swaps it into the models directory and reports back; a failed run keeps the previous model.'));
}

function assignedText(a) {
	if (!a) return '—';
	const what = a.bundle != null ? `#${a.bundle}` : `newest “${a.model_name}”`;
	const now = a.bundle == null ? (a.resolved_bundle != null ? ` (now #${a.resolved_bundle})` : ' (none built yet)') : '';
	return `${what}${now}`;
}

function installedCell(d) {
	const want = d.assignment ? d.assignment.resolved_bundle : null;
	const have = d.installed_bundle;
	const parts = [have != null ? `#${have} ` : '— '];
	if (want != null && have === want) parts.push(badge('as assigned', 'ok'));
	else if (want != null) parts.push(badge(d.transport === 'pull' ? 'waits for its next pull' : 'not installed yet', 'warn'));
	if (d.last_status === 'failed') parts.push(' ', badge('last install failed', 'bad'));
	return h('td', { class: 'installed' }, parts);
}

// Push deployments and pull reports of one device, newest first.
async function history(d, box) {
	fill(box, h('p', { class: 'small' }, 'Loading…'));
	try {
		const [deps, full] = await Promise.all([list('/deployments', { device: d.id, limit: 1000 }), api(`/devices/${d.id}`)]);
		const rows = [
			...deps.items.map((x) => ({ at: x.finished || x.started || x.created, kind: 'push deployment #' + x.id, bundle: x.bundle,
				state: badge(x.state, x.state === 'succeeded' ? 'ok' : x.state === 'failed' ? 'bad' : 'accent'),
				detail: x.error ? deploymentError(x) : (x.result && x.result.summary ? `${x.result.summary.runs} runs, ${ms(x.result.summary.avg_ms ?? 0)} ms average` : '') })),
			// A push deployment's own report is the deployment row above it.
			...(full.reports || []).filter((r) => !/^push deployment \d+$/.test(r.detail || '')).map((r) => ({ at: r.created, kind: 'board report', bundle: r.bundle,
				state: badge(r.status, r.status === 'failed' ? 'bad' : 'ok'), detail: r.detail || '' })),
		].sort((a, b) => String(b.at).localeCompare(String(a.at))).slice(0, 30);
		fill(box, rows.length
			? table(['When', 'What', 'Bundle', 'Result', 'Detail'], rows.map((r) => h('tr', null,
				h('td', null, when(r.at)), h('td', null, r.kind), h('td', null, r.bundle != null ? `#${r.bundle}` : '—'),
				h('td', null, r.state), h('td', { class: 'small' }, r.detail))), { class: 'history-table' })
			: h('p', { class: 'empty' }, 'Nothing yet: no deployment and no report from this board.'));
	} catch (err) { fill(box, errorBox(err, 'Cannot load the history')); }
}

export default async function render(main) {
	const h1 = h('h1', null, 'Devices');
	main.append(h1);
	pageTitle(h1, 'Devices');
	const listBox = h('div', { 'aria-live': 'polite' });
	const out = h('div', { 'aria-live': 'polite' });
	const registered = h('div', { id: 'd-registered', 'aria-live': 'polite' });
	// What the last Assign (or its refusal) said, per device: kept across
	// reloads of the table so the answer does not flash and vanish.
	const notes = new Map();
	const open = new Set(); // devices whose history is shown
	let targets = [];
	try { targets = (await loadTargets()).targets || []; } catch { targets = []; }
	let bundles = [];
	try { bundles = (await list('/bundles', { limit: 200 })).items; } catch { bundles = []; }

	const name = h('input', { id: 'd-name', autocomplete: 'off', required: true });
	// The boards come from GET /api/v1/targets only: without it the form
	// says so rather than offering a list kilnd may not accept.
	const target = h('select', { id: 'd-target', required: true },
		targets.length ? targets.map((t) => h('option', { value: t.id }, t.label ? `${t.label} (${t.id})` : t.id))
			: h('option', { value: '', disabled: true }, 'boards unavailable: GET /api/v1/targets failed'));
	const transport = h('select', { id: 'd-transport' }, h('option', { value: 'ssh' }, 'ssh (kilnd pushes)'), h('option', { value: 'adb' }, 'adb (kilnd pushes)'), h('option', { value: 'pull' }, 'pull (the board fetches with kiln-pull.sh)'));
	const address = h('input', { id: 'd-address', autocomplete: 'off', placeholder: 'root@<board address>:22 or adb serial' });
	const sshKey = h('textarea', { id: 'd-sshkey', rows: 3, autocomplete: 'off', spellcheck: 'false', placeholder: '-----BEGIN OPENSSH PRIVATE KEY-----' });
	const modelsDir = h('input', { id: 'd-models', autocomplete: 'off', placeholder: '/root/models' });
	const image = h('input', { id: 'd-image', type: 'file', accept: 'image/jpeg' });
	const fAddress = field('address', 'Address', address, 'ssh: [user@]host[:port]; adb: the serial adb devices shows');
	const fKey = field('ssh_private_key', 'SSH private key (optional)', sshKey, 'empty: kilnd makes a key pair and shows the public half to add to the board');
	const formErr = h('div');
	const form = h('form', { class: 'card', novalidate: true },
		h('h2', null, 'Register a board'),
		h('div', { class: 'grid' },
			field('name', 'Name', name, 'A-Z a-z 0-9 . _ -, up to 64'),
			field('target', 'Target', target),
			field('transport', 'Transport', transport),
			fAddress,
			field('models_dir', 'Models directory on the board', modelsDir, 'default /root/models'),
			fKey),
		formErr, h('button', { type: 'submit', class: 'primary' }, 'Register'));
	const onTransport = () => {
		const pull = transport.value === 'pull';
		fAddress.hidden = pull;
		fKey.hidden = transport.value !== 'ssh';
	};
	transport.addEventListener('change', onTransport);
	onTransport();

	function clearErrors() {
		formErr.replaceChildren();
		for (const e of form.querySelectorAll('.err')) e.textContent = '';
		for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
	}
	function showFieldError(err) {
		const box = err.field ? form.querySelector(`[data-field="${CSS.escape(err.field)}"]`) : null;
		if (!box || box.hidden) { fill(formErr, errorBox(err, 'Cannot register')); return; }
		box.querySelector('.err').textContent = err.message;
		const c = box.querySelector('input, select, textarea');
		c.setAttribute('aria-invalid', 'true');
		c.focus();
	}

	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors();
		out.replaceChildren();
		const body = { name: name.value.trim(), target: target.value, transport: transport.value };
		if (transport.value !== 'pull') body.address = address.value.trim();
		if (transport.value === 'ssh' && sshKey.value.trim()) body.ssh_private_key = sshKey.value.trim() + '\n';
		if (modelsDir.value.trim()) body.models_dir = modelsDir.value.trim();
		try {
			const d = await api('/devices', { method: 'POST', json: body });
			fill(registered, h('div', { class: 'alert ok', role: 'status' }, h('strong', null, `Registered “${d.name}”.`),
				d.transport === 'pull' ? pullSetup(d, d.token, 'reg')
					: d.ssh_public_key ? h('p', null, 'Add this key to the board\'s ~/.ssh/authorized_keys: ', h('code', { id: 'd-pubkey', class: 'small' }, d.ssh_public_key)) : null));
			form.reset();
			onTransport();
			load();
		} catch (err) { showFieldError(err); }
	});

	async function load() {
		try {
			const page = await list('/devices', { limit: 200 });
			const rows = page.items.flatMap((d) => {
				const pull = d.transport === 'pull';
				const pick = h('select', { 'aria-label': `Bundle for ${d.name}` }, h('option', { value: '' }, 'choose a bundle…'),
					bundles.filter((b) => !b.target || b.target === d.target).map((b) => h('option', { value: b.id }, `#${b.id} ${b.name || ''}`)));
				// Starts on what the board is meant to run, so Deploy & test and
				// a second Assign act on it unless another is picked.
				const current = d.assignment ? d.assignment.resolved_bundle : d.installed_bundle;
				if (current != null && [...pick.options].some((o) => o.value === String(current))) pick.value = String(current);
				const assign = h('button', { type: 'button', class: 'small' }, 'Assign');
				const note = notes.get(d.id);
				const noteEl = h('span', { class: note ? (note.bad ? 'err' : 'hint') : 'hint', role: 'status' }, note ? note.text : '');
				assign.addEventListener('click', async () => {
					if (!pick.value) { notes.set(d.id, { bad: true, text: 'Choose a bundle first.' }); load(); return; }
					try {
						const r = await api(`/devices/${d.id}/assignment`, { method: 'PUT', json: { bundle: Number(pick.value) } });
						notes.set(d.id, { text: `Assigned #${r.assignment.bundle} at ${when(r.assignment.set)}: ` + (pull ? 'the board installs it on its next kiln-pull.sh run.' : 'Deploy & test installs it now.') });
					} catch (err) { notes.set(d.id, { bad: true, text: `Not assigned: ${err.message}` }); }
					load();
				});
				const actions = [pick, assign];
				if (pull) {
					const setupBtn = h('button', { type: 'button', class: 'small', 'aria-expanded': 'false' }, 'Pull setup');
					const setupRow = h('tr', { class: 'setup', hidden: true }, h('td', { colspan: 7, dataset: { label: 'Pull set-up' } }, pullSetup(d, null, 'row')));
					setupBtn.addEventListener('click', () => { setupRow.hidden = !setupRow.hidden; setupBtn.setAttribute('aria-expanded', String(!setupRow.hidden)); });
					actions.push(setupBtn);
					d.setupRow = setupRow;
				} else {
					const deploy = h('button', { type: 'button', class: 'small primary' }, 'Deploy & test');
					deploy.addEventListener('click', async () => {
						try {
							const test = { runs: 10 };
							if (image.files[0]) test.image = await jpegBase64(image.files[0]);
							const dep = await api('/deployments', { method: 'POST', json: { bundle: Number(pick.value), device: d.id, test } });
							await pollDeployment(dep.id, out);
							load();
						} catch (err) { fill(out, errorBox(err, 'Cannot deploy')); }
					});
					actions.push(deploy, curlButton(() => curlOf({ method: 'POST', path: '/deployments',
						json: { bundle: Number(pick.value), device: d.id, test: { runs: 10 } } }), { id: `deploy-curl-${d.id}` }));
				}
				const histBtn = h('button', { type: 'button', class: 'small', 'aria-expanded': String(open.has(d.id)) }, 'History');
				const histBox = h('div');
				const histRow = h('tr', { class: 'history', id: `history-${d.id}`, hidden: !open.has(d.id) }, h('td', { colspan: 7, dataset: { label: 'History' } }, h('h3', null, 'History: push deployments and board reports'), histBox));
				histBtn.addEventListener('click', () => {
					if (open.has(d.id)) open.delete(d.id); else open.add(d.id);
					histRow.hidden = !open.has(d.id);
					histBtn.setAttribute('aria-expanded', String(open.has(d.id)));
					if (open.has(d.id)) history(d, histBox);
				});
				if (open.has(d.id)) history(d, histBox);
				actions.push(histBtn);
				const tr = h('tr', { dataset: { device: d.id } }, h('td', { class: 'name' }, d.name), h('td', null, d.target),
					h('td', null, pull ? 'pull' : `${d.transport || ''} ${d.address || ''}`),
					h('td', null, when(d.last_seen)),
					h('td', { class: 'assigned' }, assignedText(d.assignment)),
					installedCell(d),
					h('td', null, h('div', { class: 'row' }, actions), noteEl));
				return [tr, d.setupRow, histRow].filter(Boolean);
			});
			fill(listBox, rows.length ? table(['Name', 'Target', 'Address', 'Last seen', 'Assigned', 'Installed', 'Assign / deploy'], rows, { id: 'devices-table' })
				: h('p', { class: 'empty' }, 'No devices yet: register a board above.'));
		} catch (err) { fill(listBox, errorBox(err, 'Cannot list devices')); }
	}
	main.append(form, registered, out, h('h2', null, 'Boards'),
		h('div', { class: 'field' }, h('label', { for: 'd-image' }, 'Test image for Deploy & test (JPEG, optional: without one there is no preview)'), image),
		listBox);
	await load();
}
