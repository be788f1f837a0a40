// toolchains: the status strip under the header — which conversion
// toolchains are ready, and for the missing ones the command that gets
// them.  Reads GET /api/v1/targets once per sign-in.
import { api } from '../api.js';
import { badge, fill, h } from '../ui.js';

let cache = null;

export async function loadTargets() {
	if (!cache) cache = api('/targets').catch((e) => { cache = null; throw e; });
	return cache;
}

// The toolchains, however the server groups them: a top-level "toolchains"
// list, or one entry per target's "toolchain" (string or object).
export function toolchainsOf(body) {
	if (Array.isArray(body.toolchains)) return body.toolchains;
	const seen = new Map();
	for (const t of body.targets || []) {
		const tc = typeof t.toolchain === 'object' && t.toolchain ? t.toolchain : { id: t.toolchain };
		const st = t.toolchain_status || t.availability || {};
		if (!seen.has(tc.id)) seen.set(tc.id, { ...st, ...tc, targets: [] });
		seen.get(tc.id).targets.push(t.id);
	}
	return [...seen.values()];
}

function readyOf(tc) {
	if (typeof tc.ready === 'boolean') return tc.ready;
	if (typeof tc.available === 'boolean') return tc.available;
	if (typeof tc.status === 'string') return tc.status === 'ready' || tc.status === 'ok';
	return null;
}

export async function renderToolchains(el) {
	fill(el, h('span', { class: 'muted' }, 'Toolchains: checking…'));
	let body;
	try {
		body = await loadTargets();
	} catch (err) {
		fill(el, h('span', { class: 'muted' }, 'Toolchains: status unavailable (', err.message, ')'));
		return;
	}
	const items = toolchainsOf(body).map((tc) => {
		const ready = readyOf(tc);
		const kind = ready === true ? 'ok' : ready === false ? 'bad' : '';
		const word = ready === true ? 'ready' : ready === false ? 'missing' : 'unknown';
		const id = tc.id || tc.toolchain;
		const how = tc.fix || tc.command || tc.hint || tc.install;
		const label = h('span', { class: 'tc', title: [tc.engine, tc.image].filter(Boolean).join(' · ') },
			h('strong', null, id), badge(word, kind), tc.simulated ? badge('toolchain double', 'sim') : null);
		if (ready === false && (how || tc.message)) {
			return h('details', { class: 'tc-missing' }, h('summary', null, label),
				h('div', { class: 'tc-fix' }, tc.message ? h('div', null, tc.message) : null, how ? h('code', null, how) : null));
		}
		return label;
	});
	// On a phone the strip is one line ("Toolchains: 3 of 4 ready") that
	// opens on demand; wider screens show every toolchain at once.
	const all = toolchainsOf(body);
	const nReady = all.filter((tc) => readyOf(tc) === true).length;
	const wide = !window.matchMedia || !window.matchMedia('(max-width: 640px)').matches;
	fill(el, h('details', { class: 'tc-all', open: wide },
		h('summary', null, `Toolchains: ${nReady} of ${all.length} ready`), items));
}
