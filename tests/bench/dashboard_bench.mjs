// dashboard_bench: the dashboard's speed in a real browser, measured with
// the browser's Performance API (tests/bench/bench_dashboard.sh starts
// kilnd with the jobs already in its database, and nginx as the peer).
//
//   first load   navigation timing loadEventEnd of /, best of 5, each in a
//                fresh browser context (cold cache, new connections)
//   JS+CSS       bytes transferred (resource timing transferSize) and
//                uncompressed (decodedBodySize): on first load, and for
//                every .js/.css file under webui/ fetched by the page
//   jobs list    performance.mark just before the page goes to #/jobs and
//                when the list's last row exists (a MutationObserver), then
//                the next frame (painted); best and median of 5
//
//   graph view   performance.mark just before the page goes to the 10k-node
//                model's #/models/{id}/graph and the graph page's own
//                'graph-painted' mark (set after the first frame is drawn):
//                fetch + parse + layout + first paint; best and median of 5
//   graph layout the layout alone, in a page of the nginx origin: this
//                session's graphlayout.js and session 2's (the peer) on the
//                same JSON, alternately, best and median of 5 each
//
// Environment: KILN_BASE, KILN_TOKEN, NGINX_BASE, KILN_JOBS (how many jobs
// bench_dashboard.sh inserted), KILN_GRAPH_MODEL, KILN_GRAPH_JSON,
// KILN_GRAPH_NODES.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.KILN_BASE;
const TOKEN = process.env.KILN_TOKEN;
const NGINX = process.env.NGINX_BASE;
const JOBS = Number(process.env.KILN_JOBS || 1000);
const GRAPH_MODEL = process.env.KILN_GRAPH_MODEL;
const GRAPH_JSON = process.env.KILN_GRAPH_JSON;
const GRAPH_NODES = Number(process.env.KILN_GRAPH_NODES || 10000);
const RUNS = Number(process.env.BENCH_RUNS || 5);
const WEBUI = join(fileURLToPath(import.meta.url), '..', '..', '..', 'webui');

const browser = await chromium.launch({
	executablePath: '/usr/bin/chromium',
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
const VIEW = { viewport: { width: 1280, height: 860 } };

// Sign in through the page once; later contexts start from its cookie.
async function signIn() {
	const ctx = await browser.newContext(VIEW);
	const page = await ctx.newPage();
	await page.goto(BASE + '/');
	await page.fill('#token', TOKEN);
	await page.click('button[type=submit]');
	await page.getByRole('heading', { name: 'Models', exact: true }).waitFor();
	const state = await ctx.storageState();
	await ctx.close();
	if (!state.cookies.some((c) => c.name === 'kiln_session')) throw new Error('no kiln_session cookie after signing in');
	return state;
}

const isAsset = (name) => /\.(js|mjs|css)(\?|$)/.test(new URL(name).pathname);
function sumAssets(entries) {
	let transfer = 0, decoded = 0, n = 0;
	for (const e of entries) if (isAsset(e.name)) { transfer += e.transferSize; decoded += e.decodedBodySize; n++; }
	return { transfer, decoded, n };
}

// One cold first load of base + '/'.
async function firstLoad(base, storageState) {
	const ctx = await browser.newContext({ ...VIEW, storageState });
	const page = await ctx.newPage();
	const resp = await page.goto(base + '/', { waitUntil: 'load' });
	if (!resp.ok()) throw new Error(`${base}/ answered ${resp.status()}`);
	// loadEventEnd is set once the load handlers return: wait for it.
	await page.waitForFunction(() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0);
	const r = await page.evaluate(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		return {
			load: nav.loadEventEnd, dcl: nav.domContentLoadedEventEnd, ttfb: nav.responseStart,
			res: performance.getEntriesByType('resource').map((e) => ({ name: e.name, transferSize: e.transferSize, decodedBodySize: e.decodedBodySize })),
		};
	});
	await ctx.close();
	const assets = sumAssets(r.res);
	if (assets.n === 0) throw new Error(`${base}/ loaded no JS or CSS`);
	return { ...r, assets };
}

async function bestLoad(base, storageState) {
	const runs = [];
	for (let i = 0; i < RUNS; i++) runs.push(await firstLoad(base, storageState));
	runs.sort((a, b) => a.load - b.load);
	return { best: runs[0], median: runs[Math.floor(runs.length / 2)] };
}

// Every .js/.css under webui/, fetched by the page, sized by resource timing.
function webuiAssets(dir = WEBUI) {
	const out = [];
	for (const f of readdirSync(dir)) {
		const p = join(dir, f);
		if (statSync(p).isDirectory()) out.push(...webuiAssets(p));
		else if (/\.(js|mjs|css)$/.test(f)) out.push('/ui/' + relative(WEBUI, p));
	}
	return out;
}
async function allAssets(base, storageState) {
	const ctx = await browser.newContext({ ...VIEW, storageState });
	const page = await ctx.newPage();
	await page.goto(base + '/', { waitUntil: 'load' });
	const files = webuiAssets();
	const r = await page.evaluate(async (files) => {
		performance.clearResourceTimings();
		const bad = [];
		await Promise.all(files.map(async (f) => {
			const res = await fetch(f, { cache: 'no-store' });
			await res.arrayBuffer();
			if (!res.ok) bad.push(`${f}: ${res.status}`);
		}));
		return { bad, res: performance.getEntriesByType('resource').map((e) => ({ name: e.name, transferSize: e.transferSize, decodedBodySize: e.decodedBodySize })) };
	}, files);
	await ctx.close();
	if (r.bad.length) throw new Error('could not fetch: ' + r.bad.join(', '));
	const want = new Set(files.map((f) => new URL(f, base).href));
	return { ...sumAssets(r.res.filter((e) => want.has(e.name))), files: files.length };
}

// The jobs page: from a loaded #/models, go to #/jobs and time until the
// list's last row exists, and until the frame after it (painted).
async function jobsRender(storageState) {
	const ctx = await browser.newContext({ ...VIEW, storageState });
	const page = await ctx.newPage();
	await page.goto(BASE + '/#/models', { waitUntil: 'load' });
	await page.getByRole('heading', { name: 'Models', exact: true }).waitFor();
	await page.waitForLoadState('networkidle');
	const r = await page.evaluate(() => new Promise((resolve, reject) => {
		const found = () => document.querySelector('#jobs-table tbody tr:last-child');
		const done = () => {
			performance.mark('jobs-last-row');
			requestAnimationFrame(() => setTimeout(() => {
				performance.mark('jobs-painted');
				const dom = performance.measure('jobs-render', 'jobs-start', 'jobs-last-row').duration;
				const paint = performance.measure('jobs-render-painted', 'jobs-start', 'jobs-painted').duration;
				const rows = document.querySelectorAll('#jobs-table tbody tr').length;
				const start = performance.getEntriesByName('jobs-start')[0].startTime;
				const res = performance.getEntriesByType('resource').filter((e) => e.startTime >= start);
				const apiE = res.filter((e) => e.name.includes('/api/v1/jobs'));
				const modE = res.filter((e) => e.name.includes('/ui/pages/jobs.js'));
				const api = apiE.map((e) => e.name);
				const apiMs = apiE.length ? apiE[0].responseEnd - apiE[0].startTime : 0;
				const apiEnd = apiE.length ? apiE[0].responseEnd - start : 0;
				const modMs = modE.length ? modE[0].responseEnd - modE[0].startTime : 0;
				resolve({ dom, paint, rows, api, apiMs, apiEnd, modMs, afterApi: dom - apiEnd });
			}, 0));
		};
		const mo = new MutationObserver(() => { if (found()) { mo.disconnect(); done(); } });
		mo.observe(document.getElementById('main'), { childList: true, subtree: true });
		setTimeout(() => { mo.disconnect(); reject(new Error('no jobs table after 10 s')); }, 10000);
		performance.mark('jobs-start');
		location.hash = '#/jobs';
	}));
	await ctx.close();
	return r;
}

// The graph page of the 10k-node model: from a loaded #/models to the
// page's 'graph-painted' mark.
async function graphRender(storageState) {
	const ctx = await browser.newContext({ ...VIEW, storageState });
	const page = await ctx.newPage();
	await page.goto(BASE + '/#/models', { waitUntil: 'load' });
	await page.getByRole('heading', { name: 'Models', exact: true }).waitFor();
	await page.waitForLoadState('networkidle');
	const r = await page.evaluate((id) => new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('no graph-painted mark after 60 s')), 60000);
		const poll = () => {
			const p = performance.getEntriesByName('graph-painted');
			if (!p.length) { requestAnimationFrame(poll); return; }
			clearTimeout(t);
			const start = performance.getEntriesByName('graph-start')[0].startTime;
			const res = performance.getEntriesByType('resource').filter((e) => e.startTime >= start && e.name.includes('/graph'));
			const stats = document.getElementById('graph-stats').textContent;
			const at = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[e.length - 1].startTime - start : 0; };
			resolve({ paint: p[0].startTime - start, fetch: res.length ? res[0].responseEnd - res[0].startTime : 0,
				data: at('graph-data'), draw: at('graph-drawn') - at('graph-first-draw'), drawn: at('graph-drawn'),
				layout: Number((stats.match(/laid out in (\d+) ms/) || [0, 0])[1]), stats });
		};
		performance.mark('graph-start');
		location.hash = `#/models/${id}/graph`;
		requestAnimationFrame(poll);
	}), GRAPH_MODEL);
	await ctx.close();
	return r;
}

// Both layouts on the same JSON in one page of the nginx origin.
async function layoutPeer() {
	const ctx = await browser.newContext(VIEW);
	const page = await ctx.newPage();
	await page.goto(NGINX + '/ui/icon.svg');
	const r = await page.evaluate(async ({ text, runs }) => {
		const kiln = await import('/ui/components/graphlayout.js');
		const peer = await import('/ui/components/graphlayout_s2.js');
		const out = { kiln: [], peer: [], boxes: 0, peerBoxes: 0 };
		for (let i = 0; i < runs; i++) {
			let g = JSON.parse(text);
			let t0 = performance.now();
			out.boxes = kiln.layout(g).nodes.length;
			out.kiln.push(performance.now() - t0);
			g = JSON.parse(text);
			t0 = performance.now();
			out.peerBoxes = peer.layout(g).nodes.length;
			out.peer.push(performance.now() - t0);
		}
		out.kiln.sort((a, b) => a - b);
		out.peer.sort((a, b) => a - b);
		return out;
	}, { text: readFileSync(GRAPH_JSON, 'utf8'), runs: RUNS });
	await ctx.close();
	return r;
}

const ms = (x) => x.toFixed(1) + ' ms';
const kb = (x) => (x / 1024).toFixed(1) + ' KB';
const row = (a, b, c, d) => console.log(a.padEnd(44) + String(b).padStart(12) + String(c).padStart(12) + '   ' + (d || ''));

const state = await signIn();
const kin = await bestLoad(BASE, state);         // signed in: lands on #/models
const kout = await bestLoad(BASE, undefined);    // signed out: the sign-in page
const ngx = await bestLoad(NGINX, undefined);    // the same files from nginx
const all = await allAssets(BASE, state);
const jobs = [];
for (let i = 0; i < RUNS; i++) jobs.push(await jobsRender(state));
const graphs = [];
if (GRAPH_MODEL) for (let i = 0; i < RUNS; i++) graphs.push(await graphRender(state));
const peer = GRAPH_JSON ? await layoutPeer() : null;
await browser.close();
const byDom = [...jobs].sort((a, b) => a.dom - b.dom);
const byPaint = [...jobs].sort((a, b) => a.paint - b.paint);
const mid = Math.floor(jobs.length / 2);

console.log(`# chromium headless, ${RUNS} runs each, fresh context (cold cache) per run; Performance API figures`);
row('measure', 'best', 'median', 'target (issue 9)');
row('first load / kilnd, signed in (loadEventEnd)', ms(kin.best.load), ms(kin.median.load), '<= 300 ms');
row('first load / kilnd, signed out', ms(kout.best.load), ms(kout.median.load), '<= 300 ms');
row('first load / nginx, same files', ms(ngx.best.load), ms(ngx.median.load), 'peer');
row('  kilnd signed in: DOMContentLoaded', ms(kin.best.dcl), ms(kin.median.dcl));
row('  kilnd signed in: time to first byte', ms(kin.best.ttfb), ms(kin.median.ttfb));
row('  nginx: DOMContentLoaded', ms(ngx.best.dcl), ms(ngx.median.dcl));
row(`JS+CSS on first load, kilnd (${kin.best.assets.n} files) transferred`, kb(kin.best.assets.transfer), '', '');
row('JS+CSS on first load, kilnd uncompressed', kb(kin.best.assets.decoded), '', '');
row(`JS+CSS on first load, nginx (${ngx.best.assets.n} files) transferred`, kb(ngx.best.assets.transfer), '', '');
row(`all JS+CSS in webui/ (${all.n}/${all.files} files) transferred`, kb(all.transfer), '', '');
row('all JS+CSS in webui/ uncompressed', kb(all.decoded), '', '<= 200 KB');
row(`jobs list: #/jobs to last row (${byDom[0].rows} rows)`, ms(byDom[0].dom), ms(byDom[mid].dom), '<= 200 ms');
row('jobs list: #/jobs to next frame painted', ms(byPaint[0].paint), ms(byPaint[mid].paint), '');
const med = (k) => [...jobs].map((j) => j[k]).sort((a, b) => a - b);
row('  of which: fetch pages/jobs.js', ms(med('modMs')[0]), ms(med('modMs')[mid]));
row('  of which: GET /api/v1/jobs (start to end)', ms(med('apiMs')[0]), ms(med('apiMs')[mid]));
row('  #/jobs to API response end', ms(med('apiEnd')[0]), ms(med('apiEnd')[mid]));
row('  API response end to last row (parse+DOM)', ms(med('afterApi')[0]), ms(med('afterApi')[mid]));
if (byDom[0].rows < JOBS) {
	console.log(`# NOTE: ${JOBS} jobs in the database, but the jobs page rendered ${byDom[0].rows} rows` +
		` (request: ${byDom[0].api.map((u) => new URL(u).pathname + new URL(u).search).join(', ')})`);
}
if (graphs.length) {
	const gp = [...graphs].sort((a, b) => a.paint - b.paint);
	const gl = graphs.map((g) => g.layout).sort((a, b) => a - b);
	const gf = graphs.map((g) => g.fetch).sort((a, b) => a - b);
	console.log(`# graph: ${GRAPH_NODES}-node model (${gp[0].stats.trim()})`);
	row(`graph ${GRAPH_NODES} nodes: #/…/graph to first paint`, ms(gp[0].paint), ms(gp[mid].paint), '<= 1000 ms');
	row('  of which: GET …/graph (start to end)', ms(gf[0]), ms(gf[mid]));
	row('  of which: layout (in the page)', ms(gl[0]), ms(gl[mid]));
	const med = (k) => graphs.map((g) => g[k]).sort((a, b) => a - b);
	row('  #/…/graph to data fetched and parsed', ms(med('data')[0]), ms(med('data')[mid]));
	row('  first frame drawn (canvas, minimap)', ms(med('draw')[0]), ms(med('draw')[mid]));
	row('  #/…/graph to first frame drawn', ms(med('drawn')[0]), ms(med('drawn')[mid]));
}
if (peer) {
	const m2 = Math.floor(peer.kiln.length / 2);
	row(`graph layout, kiln (${peer.boxes} boxes)`, ms(peer.kiln[0]), ms(peer.kiln[m2]), '');
	row(`graph layout, peer: session 2's (${peer.peerBoxes} boxes)`, ms(peer.peer[0]), ms(peer.peer[m2]), 'peer');
	console.log(`ratio graph layout kiln/session-2 layout (same JSON, best of ${peer.kiln.length}): ${(peer.kiln[0] / peer.peer[0]).toFixed(2)}`);
}
console.log(`ratio first load kilnd/nginx (signed out, same page): ${(kout.best.load / ngx.best.load).toFixed(2)}` +
	`   (signed in: ${(kin.best.load / ngx.best.load).toFixed(2)})`);
