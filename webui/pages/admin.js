// admin: the pages only an admin sees — access tokens (create, with the
// secret shown once; revoke; when each was last used), the settings kilnd
// runs with (GET /api/v1/settings, read-only: kiln.ini is where they
// change), and each toolchain's status with the exact command that fixes
// a missing one (GET /api/v1/targets, probed again on demand).
import { api, list } from '../api.js';
import { badge, bytes, errorBox, fill, h, pageTitle, table, toast, when } from '../ui.js';

const SECTIONS = [['tokens', 'Tokens'], ['settings', 'Settings'], ['toolchains', 'Toolchains']];

function subnav(current) {
	return h('nav', { class: 'subnav', 'aria-label': 'Admin' }, h('ul', null, SECTIONS.map(([id, label]) =>
		h('li', null, h('a', { href: `#/admin/${id}`, 'aria-current': id === current ? 'page' : null }, label)))));
}

function copyButton(text, label) {
	const b = h('button', { type: 'button', class: 'small', 'aria-label': label }, 'Copy');
	b.addEventListener('click', async () => {
		try { await navigator.clipboard.writeText(text); toast('Copied'); } catch { toast('Select the text and copy it by hand'); }
	});
	return b;
}

async function tokens(main) {
	const nameIn = h('input', { id: 'tok-name', autocomplete: 'off', required: true, pattern: '[A-Za-z0-9._-]{1,64}', 'aria-describedby': 'tok-name-hint tok-name-err' });
	const roleSel = h('select', { id: 'tok-role' }, h('option', { value: 'user' }, 'user — models, jobs, devices'), h('option', { value: 'admin' }, 'admin — also tokens and settings'));
	const nameErr = h('div', { id: 'tok-name-err', class: 'field-error', 'aria-live': 'polite' });
	const roleErr = h('div', { id: 'tok-role-err', class: 'field-error', 'aria-live': 'polite' });
	const made = h('div', { id: 'tok-made', 'aria-live': 'polite' });
	const create = h('button', { type: 'submit', class: 'primary' }, 'Create token');
	const form = h('form', { class: 'card', id: 'tok-form', novalidate: true },
		h('h2', null, 'New token'),
		h('div', { class: 'field' }, h('label', { for: 'tok-name' }, 'Name'), nameIn,
			h('div', { id: 'tok-name-hint', class: 'hint' }, '1–64 of A–Z a–z 0–9 . _ - (e.g. ci, laptop-anna)'), nameErr),
		h('div', { class: 'field' }, h('label', { for: 'tok-role' }, 'Role'), roleSel, roleErr),
		h('div', { class: 'row' }, create), made);
	const listBox = h('div', { 'aria-live': 'polite' });

	async function load() {
		try {
			const page = await list('/tokens', { limit: 1000 });
			const rows = page.items.map((t) => {
				const rv = h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke token ${t.name}`, dataset: { revoke: t.id } }, 'Revoke');
				rv.addEventListener('click', async () => {
					if (!confirm(`Revoke token “${t.name}”? Scripts using it stop working at once.`)) return;
					try { await api(`/tokens/${t.id}`, { method: 'DELETE' }); toast(`Revoked “${t.name}”`); load(); } catch (err) { fill(listBox, errorBox(err, 'The revoke failed')); }
				});
				return h('tr', { dataset: { token: t.id } }, h('td', { class: 'num' }, t.id), h('td', { class: 'name' }, t.name), h('td', null, badge(t.role, t.role === 'admin' ? 'sugg' : '')),
					h('td', null, when(t.created)), h('td', null, t.last_used ? when(t.last_used) : h('span', { class: 'muted' }, 'never')), h('td', null, rv));
			});
			fill(listBox, rows.length ? table(['#', 'Name', 'Role', 'Created', 'Last used', ''], rows, { id: 'tokens-table' }) : h('p', { class: 'empty' }, 'No tokens.'));
		} catch (err) { fill(listBox, errorBox(err, 'Cannot list tokens')); }
	}

	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		for (const [input, box] of [[nameIn, nameErr], [roleSel, roleErr]]) { input.removeAttribute('aria-invalid'); box.textContent = ''; }
		made.replaceChildren();
		create.disabled = true;
		try {
			const t = await api('/tokens', { method: 'POST', json: { name: nameIn.value.trim(), role: roleSel.value } });
			const secret = h('code', { id: 'tok-secret', class: 'secret' }, t.token);
			fill(made, h('div', { class: 'alert ok', role: 'status' }, h('strong', null, `Token “${t.name}” (${t.role})`),
				h('p', null, 'This is the only time the secret is shown: copy it now.'),
				h('div', { class: 'row' }, secret, copyButton(t.token, 'Copy the secret')),
				h('p', { class: 'small muted' }, 'Use it as ', h('code', null, 'Authorization: Bearer …'), ' or paste it on the sign-in page.')));
			nameIn.value = '';
			load();
		} catch (err) {
			const box = err.field === 'role' ? roleErr : err.field === 'name' || !err.field ? nameErr : nameErr;
			const input = err.field === 'role' ? roleSel : nameIn;
			input.setAttribute('aria-invalid', 'true');
			box.textContent = err.message;
			input.focus();
		} finally { create.disabled = false; }
	});

	main.append(form, h('section', { 'aria-labelledby': 'tok-list-h' }, h('h2', { id: 'tok-list-h' }, 'Tokens'), listBox));
	await load();
}

function valueText(it) {
	if (typeof it.value === 'number' && /(_bytes|body|memory_limit|min_free)$/.test(it.key) && it.value >= 1024) return `${it.value} (${bytes(it.value)})`;
	if (it.value === '') return '(empty)';
	return String(it.value);
}

async function settings(main) {
	let body;
	try { body = await api('/settings'); } catch (err) { main.append(errorBox(err, 'Cannot read the settings')); return; }
	const groups = new Map();
	for (const it of body.items) {
		if (!groups.has(it.section)) groups.set(it.section, []);
		groups.get(it.section).push(it);
	}
	main.append(h('p', { class: 'muted' }, 'The settings kilnd runs with. They are read-only here: change them in ', h('code', null, 'kiln.ini'), ' and restart kilnd. ',
		h('strong', null, 'Set'), ' marks a value that is not the default.'));
	for (const [section, items] of groups) {
		const rows = items.map((it) => {
			const def = it.default === '' ? '(empty)' : it.default;
			const changed = String(it.value) !== it.default && !(typeof it.value === 'number' && /[KMG]$/.test(it.default));
			return h('tr', { dataset: { key: `${section}.${it.key}` } }, h('td', { class: 'mono' }, it.key),
				h('td', { class: 'mono' }, valueText(it), changed ? [' ', badge('set', 'sugg')] : null),
				h('td', { class: 'mono muted' }, def),
				h('td', { class: 'small' }, it.help, it.choices ? h('span', { class: 'muted' }, ` (one of ${it.choices.split('|').join(', ')})`) : null));
		});
		main.append(h('section', { class: 'settings-group' }, h('h2', null, `[${section}]`), table(['Key', 'Value', 'Default', 'Meaning'], rows)));
	}
}

async function toolchains(main) {
	const box = h('div', { 'aria-live': 'polite' });
	const again = h('button', { type: 'button', id: 'tc-probe' }, 'Check again now');
	async function load(refresh) {
		again.disabled = true;
		try {
			const body = await api(`/targets${refresh ? '?refresh=1' : ''}`);
			const boards = new Map();
			for (const t of body.targets || []) {
				const id = typeof t.toolchain === 'object' ? t.toolchain.id : t.toolchain;
				if (!boards.has(id)) boards.set(id, []);
				boards.get(id).push(t.name || t.id);
			}
			fill(box, (body.toolchains || []).map((tc) => {
				const ok = tc.ready === true;
				return h('section', { class: ['card', 'tc-card', ok ? 'ok' : 'bad'], dataset: { toolchain: tc.toolchain } },
					h('h2', null, tc.toolchain, ' ', badge(ok ? 'ready' : 'missing', ok ? 'ok' : 'bad'), tc.simulated ? [' ', badge('toolchain double', 'sim')] : null),
					h('dl', { class: 'meta' },
						h('dt', null, 'Boards'), h('dd', null, (boards.get(tc.toolchain) || []).join(', ') || '—'),
						h('dt', null, 'Engine'), h('dd', null, tc.engine || '—', tc.engine_ok === false ? [' ', badge('not answering', 'bad')] : null),
						// engine = local runs the tool from path: no image is used.
						tc.engine === 'local' ? null : [h('dt', null, 'Image'), h('dd', { class: 'mono' }, tc.image || '—', tc.image_ok === false ? [' ', badge('not there', 'bad')] : null)],
						h('dt', null, 'Tool'), h('dd', null, tc.tool_ok === true ? 'runs' : tc.tool_ok === false ? 'does not run' : '—')),
					ok ? null : h('div', { class: 'tc-fix' }, tc.message ? h('p', null, tc.message) : null,
						tc.fix ? h('div', { class: 'row' }, h('code', { class: 'fix' }, tc.fix), copyButton(tc.fix, `Copy the command that fixes ${tc.toolchain}`)) : null));
			}));
		} catch (err) { fill(box, errorBox(err, 'Cannot read the toolchains')); }
		again.disabled = false;
	}
	again.addEventListener('click', () => load(true));
	main.append(h('div', { class: 'row' }, h('p', { class: 'muted' }, 'Each conversion toolchain, how kilnd runs it, and for a missing one the command that gets it.'), again), box);
	await load(false);
}

export default async function render(main, { params, go }) {
	const section = params.section || 'tokens';
	if (!SECTIONS.some(([id]) => id === section)) { go('/admin/tokens'); return; }
	const h1 = h('h1', null, 'Admin · ', SECTIONS.find(([id]) => id === section)[1]);
	main.append(h1, subnav(section));
	pageTitle(h1, `Admin · ${SECTIONS.find(([id]) => id === section)[1]}`);
	if (section === 'tokens') await tokens(main);
	else if (section === 'settings') await settings(main);
	else await toolchains(main);
}
