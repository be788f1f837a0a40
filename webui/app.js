// app: boots the dashboard — asks who is signed in, routes #/paths to page
// modules (loaded on first use), keeps the header in step with the session,
// and draws the toolchain status strip.  Each page module exports
// render(main, {params, query}) and may return a cleanup function.
import { api } from './api.js';
import { session, signedIn, signedOut, subscribe } from './store.js';
import { errorBox, fill, h } from './ui.js';
import { renderToolchains } from './components/toolchains.js';

const routes = [
	[/^\/signin$/, () => import('./pages/signin.js'), 'signin'],
	[/^\/models$/, () => import('./pages/models.js'), 'models'],
	[/^\/models\/(?<id>\d+)$/, () => import('./pages/model.js'), 'models'],
	[/^\/models\/(?<id>\d+)\/graph$/, () => import('./pages/graph.js'), 'models'],
	[/^\/datasets$/, () => import('./pages/datasets.js'), 'datasets'],
	[/^\/datasets\/(?<id>\d+)$/, () => import('./pages/dataset.js'), 'datasets'],
	[/^\/convert$/, () => import('./pages/convert.js'), 'convert'],
	[/^\/jobs$/, () => import('./pages/jobs.js'), 'jobs'],
	[/^\/jobs\/(?<id>\d+)$/, () => import('./pages/job.js'), 'jobs'],
	[/^\/jobs\/compare$/, () => import('./pages/compare.js'), 'jobs'],
	[/^\/groups\/(?<id>\d+)$/, () => import('./pages/group.js'), 'jobs'],
	[/^\/devices$/, () => import('./pages/devices.js'), 'devices'],
	[/^\/docs$/, () => import('./pages/docs.js'), 'docs'],
	[/^\/admin$/, () => import('./pages/admin.js'), 'admin/tokens'],
	[/^\/admin\/(?<section>[a-z]+)$/, () => import('./pages/admin.js'), 'admin/tokens'],
];

const main = document.getElementById('main');
let cleanup = null;
let seq = 0;
let wanted = null; // where to go after signing in

function parseHash() {
	const raw = location.hash.replace(/^#/, '') || '/models';
	const [path, qs] = raw.split('?');
	return { path, query: new URLSearchParams(qs || '') };
}

export function go(path) {
	if (location.hash === '#' + path) route();
	else location.hash = path;
}

function markNav(section) {
	for (const a of document.querySelectorAll('#nav a')) {
		if (a.getAttribute('href') === '#/' + section) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
}

async function route() {
	const my = ++seq;
	if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
	let { path, query } = parseHash();
	if (!session.user && path !== '/signin') {
		wanted = location.hash || '#/models';
		path = '/signin';
	} else if (session.user && path === '/signin') {
		path = '/models';
	}
	const hit = routes.find(([re]) => re.test(path));
	main.classList.remove('wide');
	if (!hit) {
		fill(main, h('h1', null, 'Not found'), h('p', null, 'There is no page at ', h('code', null, path), '. ', h('a', { href: '#/models' }, 'Go to the models.')));
		return;
	}
	const [re, load, section] = hit;
	markNav(section);
	try {
		const mod = await load();
		if (my !== seq) return;
		// Each page draws into a view of its own: a render still awaiting
		// (a graph's fetch) when the address changes then finishes into a
		// view no longer shown, instead of adding a second graph to the page.
		const view = h('div', { class: 'view' });
		main.replaceChildren(view);
		const params = path.match(re).groups || {};
		const c = await mod.default(view, { params, query, go, afterSignIn: () => go((wanted || '#/models').slice(1)) });
		if (my !== seq) { if (typeof c === 'function') c(); return; }
		cleanup = typeof c === 'function' ? c : null;
	} catch (err) {
		if (my !== seq || (err && err.status === 401)) return;
		fill(main, h('h1', null, 'This page could not be shown'), errorBox(err, 'Error'));
	}
}

function showChrome() {
	const on = !!session.user;
	document.getElementById('nav').hidden = !on;
	document.getElementById('who').hidden = !on;
	document.getElementById('toolchains').hidden = !on;
	// Tokens, settings and toolchain status answer 403 to a user token.
	document.getElementById('nav-admin').hidden = !on || session.user.role !== 'admin';
	if (on) {
		document.getElementById('who-name').textContent = `${session.user.name} (${session.user.role})`;
		renderToolchains(document.getElementById('toolchains'));
	}
}

subscribe(() => {
	showChrome();
	route();
});

document.getElementById('signout').addEventListener('click', async () => {
	try { await api('/session', { method: 'DELETE', quiet401: true }); } catch { /* signed out either way */ }
	signedOut('You signed out.');
});

window.addEventListener('hashchange', route);

async function boot() {
	try {
		const who = await api('/session', { quiet401: true });
		if (who && who.signed_in !== false) {
			signedIn(who);
			return; // the store's listener routes
		}
		if (who && who.message) session.message = who.message;
	} catch (err) {
		if (err.status !== 401) session.message = err.message;
	}
	showChrome();
	route();
}

boot();
