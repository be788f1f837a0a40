// job: one conversion, live — the steps as a timeline with a progress bar,
// the log over Server-Sent Events (auto-scroll, with a pause), a results
// table (outputs x builds, worst output first, the tolerance as a line,
// per-layer figures where the tool prints them), the exact commands as a shell
// script, the error with what to do next and the advice read from the
// figures (one click resubmits with a suggested change), the calibration
// images used and the warnings about them, Cancel/Retry, Edit and
// resubmit, Rebuild, Compare, and the bundle.
// With engine = slurm each step says where it runs: its Slurm job id and
// node, per attempt ("slurm_steps" of GET /jobs/:id, live from "slurm" events).
import { api, events } from '../api.js';
import { curlButton, curlOf } from '../components/curl.js';
import { changeText, resubmittable } from '../components/specs.js';
import { badge, bytes, debounce, errorBox, fill, h, pageTitle, s, table, toast, when } from '../ui.js';
import { ERROR_TITLE, STATE_KIND } from './jobs.js';

const NEXT_STEP = {
	toolchain_unavailable: 'The toolchain for this target is not installed: see the toolchain strip above for the command that gets it, then Retry.',
	step_failed: 'A tool stopped with an error: read the last lines of the log. Often the input shape, the outputs or the preprocessing need changing — start a new conversion with them fixed.',
	missing_output: 'The tool finished but did not write a file it should have: check the log for warnings; Retry once, then report it.',
	timeout: 'A step ran longer than its time limit: a big model may need a larger limit, or fewer calibration images.',
	inputs: 'The model or calibration set could not be read: upload them again.',
	interrupted: 'kilnd stopped while the job ran: Retry.',
	plan_invalid: 'The conversion plan was refused: the options do not fit this target.',
	bundle_failed: 'Packing the bundle failed: check free disk space and Retry.',
	below_tolerance: 'A quantized output is further from the float model than the tolerance allows: see the results table for which output and build. Try more or better calibration images, another calibration method, mixed precision, or cutting the model earlier.',
};
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

// engine = slurm: "Slurm job 49 on node07" for each Slurm job the step
// became, the current attempt's last; null for a step that ran here.
function whereRan(job, name) {
	const runs = (job.slurm_steps || []).filter((r) => r.step === name);
	if (!runs.length) return null;
	const many = runs.length > 1 || runs.some((r) => r.attempt > 1);
	return h('span', { class: 'small muted slurm', 'data-step': name },
		runs.map((r, i) => [i ? '; ' : '', `Slurm job ${r.slurm_job}`, r.node ? ` on ${r.node}` : ' (waiting for a node)', many ? ` (attempt ${r.attempt})` : '']));
}

// A "slurm" event {step, slurm_job[, node]} into job.slurm_steps.
function withSlurm(job, d) {
	const list = [...(job.slurm_steps || [])];
	const i = list.findIndex((r) => r.slurm_job === d.slurm_job);
	if (i >= 0) list[i] = { ...list[i], node: d.node ?? list[i].node };
	else list.push({ attempt: job.attempt ?? 1, step: d.step, slurm_job: d.slurm_job, node: d.node ?? null });
	return { ...job, slurm_job: d.slurm_job, slurm_steps: list };
}

// --- the results table: outputs x builds, worst output first -------------
// The server labels every figure (GET /jobs/:id "results", runtime/results.c):
// rows of {step, stage, compare, output, metric, value}.

const METRIC_FMT = {
	cosine: (v) => v.toFixed(v >= 0.999 ? 5 : 4),
	euclidean: (v) => 'eucl ' + v.toFixed(3),
	sqnr: (v) => 'sqnr ' + v.toFixed(1) + ' dB',
	mse: (v) => 'mse ' + (v < 0.001 && v > 0 ? v.toExponential(1) : v.toFixed(4)),
	relative_error: (v) => 'RE ' + (v * 100).toFixed(1) + ' %',
};
const fmt = (m, v) => (typeof v === 'number' ? (METRIC_FMT[m] || String)(v) : m + ' n/a');

function stageKey(r) { return r.compare ? `${r.stage} · ${r.compare}` : r.stage; }

// A bar from lo to 1 with the tolerance drawn as a line across it.
function cosBar(v, tol, lo) {
	const W = 72, span = 1 - lo, x = (t) => Math.max(0, Math.min(W, W * (t - lo) / span));
	return s('svg', { class: 'cosbar', viewBox: `0 0 ${W} 8`, width: W, height: 8, 'aria-hidden': 'true' },
		s('rect', { class: 'axis', x: 0, y: 1, width: W, height: 6, fill: 'none' }),
		s('rect', { class: typeof tol === 'number' && v < tol ? 'pt bad' : 'pt', x: 0, y: 1, width: Math.max(1, x(v)), height: 6 }),
		typeof tol === 'number' ? s('line', { class: 'tol', x1: x(tol), x2: x(tol), y1: 0, y2: 8 }) : null);
}

function comparedOn(on) {
	if (!on) return null;
	if (on.source === 'none') return h('p', { class: 'small', id: 'compared-on' }, 'No similarity figures: ', on.why || 'this toolchain prints none', '.');
	if (on.source === 'test_image') return h('p', { class: 'small', id: 'compared-on' }, 'Compared on the test image ', h('code', null, on.entry), '.');
	if (on.entry) return h('p', { class: 'small', id: 'compared-on' }, 'Compared on ', h('code', null, on.entry), ', the first image of the job\'s calibration sample (no test image was given).');
	return h('p', { class: 'small', id: 'compared-on' }, 'Compared on the calibration images', on.why ? ` (${on.why})` : '', '.');
}

function resultsTable(res) {
	const rows = res.rows || [];
	const tol = Array.isArray(res.tolerance) ? res.tolerance : null;
	const tcos = tol ? tol[0] : undefined;
	const stages = [];
	for (const r of rows) if (!stages.includes(stageKey(r))) stages.push(stageKey(r));
	const outputs = [];
	for (const r of rows) if (!outputs.includes(r.output)) outputs.push(r.output);
	const cos = rows.filter((r) => r.metric === 'cosine' && typeof r.value === 'number').map((r) => r.value);
	const lo = Math.max(0, Math.min(0.9, (tcos ?? 1) - 0.05, ...cos.map((c) => c - 0.01)));
	const cell = (out, st) => {
		const here = rows.filter((r) => r.output === out && stageKey(r) === st);
		if (!here.length) return h('td', { class: 'num muted' }, '–');
		const c = here.find((r) => r.metric === 'cosine');
		const bad = here.some((r) => r.passed === false) || (c && typeof c.value === 'number' && typeof tcos === 'number' && c.value < tcos);
		return h('td', { class: ['num', bad ? 'below' : ''], title: here.map((r) => `${r.metric} ${r.value}`).join(', ') + ` (step ${here[0].step})` },
			c ? h('div', { class: bad ? 'cell-bad' : 'cell-ok' }, 'cos ', fmt('cosine', c.value)) : null,
			c && typeof c.value === 'number' ? cosBar(c.value, tcos, lo) : null,
			h('div', { class: 'small muted' }, here.filter((r) => r.metric !== 'cosine').map((r) => fmt(r.metric, r.value)).join(' · ')));
	};
	const w = res.worst;
	return [
		w ? h('p', { id: 'worst' }, 'Worst output: ', h('strong', null, w.output), ` — cosine ${fmt('cosine', w.cosine)} at ${w.stage}`,
			typeof tcos === 'number' ? (w.cosine < tcos ? [' ', badge('below tolerance', 'bad')] : [' ', badge('within tolerance', 'ok')]) : null) : null,
		h('p', { class: 'small muted', id: 'tolerance' }, tol ? `Tolerance: cosine ≥ ${tol[0]}${tol.length > 1 ? `, euclidean ≥ ${tol[1]}` : ''} (the line in each bar)` : 'Tolerance: the tool\'s own default'),
		table([h('th', { scope: 'col' }, 'Output'), ...stages.map((st) => h('th', { scope: 'col', class: 'num' }, st))],
			outputs.map((o) => h('tr', null, h('th', { scope: 'row', class: 'name mono small' }, o), stages.map((st) => cell(o, st)))),
			{ id: 'results', class: 'figtable' }),
	];
}

// The per-layer figures (pulsar2's precision table), worst first; the
// cosine column sorts both ways.
function layersTable(layers) {
	if (!layers || !layers.length) return null;
	let asc = true;
	const body = h('tbody');
	const draw = () => fill(body, [...layers].sort((a, b) => (asc ? a.cosine - b.cosine : b.cosine - a.cosine)).map((l) => h('tr', null,
		h('td', { class: 'name mono small' }, l.layer), h('td', { class: 'mono small' }, l.output), h('td', null, l.stage),
		h('td', { class: 'num' }, fmt('cosine', l.cosine)), h('td', { class: 'num small' }, typeof l.mse === 'number' ? fmt('mse', l.mse) : ''))));
	const sortBtn = h('button', { type: 'button', class: 'link', 'aria-label': 'Sort by cosine' }, 'Cosine ▲');
	sortBtn.addEventListener('click', () => { asc = !asc; sortBtn.textContent = `Cosine ${asc ? '▲' : '▼'}`; draw(); });
	draw();
	return h('details', { id: 'layers' }, h('summary', null, `Per layer (${layers.length} worst first)`),
		h('div', { class: 'table-wrap' }, h('table', null,
			h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Layer'), h('th', { scope: 'col' }, 'Output tensor'), h('th', { scope: 'col' }, 'Build'),
				h('th', { scope: 'col', class: 'num' }, sortBtn), h('th', { scope: 'col', class: 'num' }, 'MSE'))), body)));
}

// What to try next (GET /jobs/:id "advice", conversion/advice.c): the kind
// of failure the figures show and the board's own options for it.
const KIND_TITLE = {
	head: 'Quantization loses too much at the head',
	everywhere: 'Every output is far off: the input the model sees looks wrong',
	float: 'The float model already differs from the ONNX',
};

function advicePanel(job, resubmit) {
	const a = job.advice;
	if (!a) return null;
	return h('div', { class: 'alert warn', id: 'advice', role: 'status' },
		h('strong', null, KIND_TITLE[a.kind] || 'Advice'),
		h('p', { class: 'small' }, 'Why: ', a.why, '.'),
		h('ul', { class: 'advice' }, (a.suggestions || []).map((sg) => {
			let act = null;
			if (sg.change) {
				act = h('button', { type: 'button', class: 'small', dataset: { advice: sg.id } }, `Resubmit with ${changeText(sg.change)}`);
				act.addEventListener('click', () => resubmit(sg.change, act));
			} else if (sg.link) {
				act = h('a', { href: '#' + sg.link, class: 'small' }, sg.link.includes('/graph') ? 'Open the graph to cut' : sg.link.startsWith('/convert') ? 'Edit and resubmit' : 'Calibration sets');
			}
			return h('li', { dataset: { id: sg.id } }, sg.text, act ? [' ', act] : null);
		})));
}

// The calibration images used, and what kilnd warned about them at submit
// (spec.warnings, also sent live as "warning" events).
function warningsPanel(list) {
	if (!list.length) return null;
	return h('div', { class: 'alert info', id: 'warnings' }, h('strong', null, `Warnings (${list.length})`),
		h('ul', null, list.map((w) => h('li', { dataset: { code: w.code || w.field || '' } }, w.message))));
}

function calibrationLine(job) {
	const cal = (job.spec && job.spec.calibration) || {};
	if (!job.dataset || !cal.count) return null;
	const box = h('div', { class: 'small' });
	const det = h('details', { id: 'calib-images' }, h('summary', null, 'Which images'), box);
	det.addEventListener('toggle', async () => {
		if (!det.open || box.dataset.loaded) return;
		box.dataset.loaded = '1';
		try {
			const c = await api(`/jobs/${job.id}/calibration`);
			fill(box, h('p', { class: 'muted' }, `${c.count} of the set's ${c.of} images, picked by a fixed seed (the same set and count give the same images):`),
				h('ol', { class: 'calib-list mono' }, c.images.map((i) => h('li', null, i.entry, h('span', { class: 'muted' }, ` ${i.width}×${i.height}`)))));
		} catch (err) { fill(box, errorBox(err, 'Cannot list the images')); }
	});
	return h('div', { id: 'calibration' }, h('p', { class: 'small' }, 'Calibrated on ', h('strong', { id: 'calib-count' }, `${cal.count} image${cal.count === 1 ? '' : 's'}`),
		' of ', h('a', { href: `#/datasets/${job.dataset}` }, `calibration set #${job.dataset}`), cal.method ? ` with ${cal.method}` : '', '.'), det);
}

function resultsPanel(job) {
	const res = job.results || {};
	const on = res.compared_on || (job.spec && job.spec.compared_on);
	const rows = res.rows || [];
	if (rows.length) return [comparedOn(on), ...resultsTable(res), layersTable(res.layers)];
	if (on && on.source === 'none') return comparedOn(on);
	if (FINAL.has(job.state)) return [comparedOn(on), h('p', { class: 'muted', id: 'no-figures' }, job.state === 'succeeded' ? 'The tools printed no similarity figure for this job.' : 'No similarity figure was printed before the job ended.')];
	return [comparedOn(on), h('p', { class: 'muted' }, 'Similarity figures appear here as the tools print them.')];
}

export default async function render(main, { params, go }) {
	let job = await api(`/jobs/${params.id}`);
	const h1 = h('h1', null, `Job #${job.id}`);
	const stateEl = h('span');
	const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Job progress' });
	const pct = h('span', { class: 'small' });
	const timeline = h('ol', { class: 'timeline', id: 'timeline' });
	const log = h('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-label': 'Job log' });
	const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
	const errBox = h('div');
	const adviceBox = h('div');
	const warnBox = h('div');
	const calBox = h('div');
	const live = []; // warnings sent as events while this page is open
	const figsBox = h('div', { id: 'figures' });
	const bundleBox = h('div', { id: 'bundle' });
	const actions = h('div', { class: 'row' });
	let plan = null;
	let es = null;
	let logLines = 0;

	try { plan = await api(`/jobs/${job.id}/plan`); } catch { plan = null; }
	// The model may have been deleted since: its record stays (deleted_at),
	// and the link says so rather than lead to a page without a file.
	let model = null;
	try { model = await api(`/models/${job.model}`); } catch { model = null; }
	const refetch = debounce(async () => {
		try { const j = await api(`/jobs/${job.id}`); job = { ...job, results: j.results, figures: j.figures, advice: j.advice }; drawState(); } catch { /* the next event tries again */ }
	}, 300);

	function addLog(line) {
		log.append(line + '\n');
		if (++logLines > 5000) { log.firstChild.remove(); logLines--; }
		if (follow.checked) log.scrollTop = log.scrollHeight;
	}

	// The plan is stored when a worker claims the job: ask again until it is there.
	let planAsked = false;
	async function ensurePlan() {
		if ((plan && plan.steps) || planAsked || job.state === 'queued') return;
		planAsked = true;
		try { plan = await api(`/jobs/${job.id}/plan`); } catch { plan = null; }
		if (!(plan && plan.steps)) planAsked = false;
		drawTimeline();
	}

	function drawTimeline() {
		ensurePlan();
		const steps = (plan && plan.steps) || [];
		const idx = job.step_index ?? -1;
		fill(timeline, steps.map((st, i) => {
			const cls = job.state === 'succeeded' || i < idx ? 'done' : i === idx ? (job.state === 'failed' ? 'failed' : job.state === 'running' ? 'running' : '') : '';
			const where = whereRan(job, st.name);
			return h('li', { class: cls }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', null, h('strong', null, st.name), ' ', h('code', { class: 'small' }, (st.argv || []).slice(0, 3).join(' '), (st.argv || []).length > 3 ? ' …' : ''), where ? [h('br'), where] : null),
				h('span', { class: 'small muted' }, cls === 'done' ? 'done' : cls === 'running' ? 'running' : cls === 'failed' ? 'failed' : ''));
		}));
		if (!steps.length) timeline.append(h('li', { class: 'muted' }, job.state === 'queued' ? 'Waiting for a worker…' : 'No plan stored.'));
	}

	function drawState() {
		fill(stateEl, badge(job.state, STATE_KIND[job.state]), job.cached_from ? [' ', badge(`cached from #${job.cached_from}`)] : null);
		bar.value = job.progress || (job.state === 'succeeded' ? 1 : 0);
		pct.textContent = `${Math.round((bar.value || 0) * 100)} %${job.step ? ' · ' + job.step : ''}`;
		fill(errBox, job.error ? h('div', { class: 'alert bad', role: 'alert' },
			h('strong', null, ERROR_TITLE[job.error.code] || 'The job failed'), h('p', null, job.error.message),
			NEXT_STEP[job.error.code] || 'Read the log below; Retry when the cause is fixed.') : null);
		fill(figsBox, resultsPanel(job));
		// redrawn only when they change: every event redraws the state, and
		// a button under the pointer must stay the same button
		const advKey = JSON.stringify(job.advice || null);
		if (adviceBox.dataset.key !== advKey) { adviceBox.dataset.key = advKey; fill(adviceBox, advicePanel(job, resubmit)); }
		const stored = (job.spec && job.spec.warnings) || [];
		const warns = [...stored, ...live.filter((w) => !stored.some((x) => x.message === w.message))];
		const warnKey = JSON.stringify(warns);
		if (warnBox.dataset.key !== warnKey) { warnBox.dataset.key = warnKey; fill(warnBox, warningsPanel(warns)); }
		if (!calBox.firstChild) fill(calBox, calibrationLine(job));
		const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel');
		cancel.addEventListener('click', () => act('cancel'));
		const retry = h('button', { type: 'button' }, 'Retry');
		retry.addEventListener('click', () => act('retry'));
		// Retry only where kilnd takes it (runtime/jobs.c: failed or
		// cancelled); a succeeded job has nothing to retry.
		const retryable = job.state === 'failed' || job.state === 'cancelled';
		const edit = h('a', { class: 'button', href: `#/convert?from=${job.id}`, id: 'edit-resubmit' }, 'Edit and resubmit');
		// the same spec without the cache: the toolchain runs again
		const rebuild = h('button', { type: 'button', id: 'rebuild', title: 'Submit the same spec with "cache": false' }, 'Rebuild');
		rebuild.addEventListener('click', () => resubmit({ cache: false }, rebuild));
		const compare = h('a', { class: 'button', href: `#/jobs/compare?a=${job.id}`, id: 'compare' }, 'Compare…');
		// A deleted model's file is gone: kilnd refuses a retry or a new job
		// from it (409), so the page offers neither.
		const gone = Boolean(model && model.deleted);
		fill(actions, retryable && !gone ? retry : FINAL.has(job.state) ? null : cancel,
			job.spec ? [gone ? null : edit, FINAL.has(job.state) && !gone ? rebuild : null, compare] : null,
			job.group ? h('a', { class: 'button', href: `#/groups/${job.group}` }, 'All boards') : null);
		drawTimeline();
		if (job.bundle && !bundleBox.dataset.loaded) loadBundle();
	}

	// A new job from this one's spec with change merged in (advice, Rebuild).
	async function resubmit(change, btn) {
		if (btn) btn.disabled = true;
		try {
			const j = await api('/jobs', { method: 'POST', json: resubmittable(job.spec, change) });
			toast(`Job #${j.id} submitted`);
			go(`/jobs/${j.id}`);
		} catch (err) {
			fill(errBox, errorBox(err, 'Cannot resubmit'));
			if (btn) btn.disabled = false;
		}
	}

	async function act(what) {
		try {
			job = await api(`/jobs/${job.id}/${what}`, { method: 'POST' }) || job;
			toast(what === 'cancel' ? 'Cancel requested' : 'Queued again');
			if (what === 'retry') { go(`/jobs/${job.id}`); return; }
			drawState();
		} catch (err) { fill(errBox, errorBox(err, `Cannot ${what}`)); }
	}

	async function loadBundle() {
		bundleBox.dataset.loaded = '1';
		try {
			const b = await api(`/bundles/${job.bundle}`);
			const files = (b.manifest && b.manifest.files) || b.files || [];
			fill(bundleBox, h('div', { class: 'spread' }, h('h2', null, 'Bundle ', (b.simulated || (b.manifest && b.manifest.simulated)) ? badge('simulated: made with the toolchain double', 'sim') : null),
				h('div', { class: 'row' },
					curlButton(() => curlOf({ path: `/bundles/${job.bundle}/archive`, output: true }), { id: 'download-curl' }),
					h('a', { class: 'button primary', href: `/api/v1/bundles/${job.bundle}/archive`, download: '' }, 'Download .tar.gz'))),
			table(['File', 'Size', 'sha256'], files.map((f) => h('tr', null,
				h('td', { class: 'name' }, h('a', { href: `/api/v1/bundles/${job.bundle}/files/${encodeURIComponent(f.name)}` }, f.name)),
				h('td', { class: 'num' }, bytes(f.size)), h('td', { class: 'mono small' }, (f.sha256 || '').slice(0, 16) + '…')))),
			h('p', null, h('a', { href: '#/devices' }, 'Deploy it to a device…')));
		} catch (err) { fill(bundleBox, errorBox(err, 'Cannot load the bundle')); }
	}

	const copy = h('button', { type: 'button' }, 'Copy as shell script');
	const script = h('pre', { class: 'small', id: 'script' });
	const scriptBox = h('details', null, h('summary', null, 'The exact commands'), script);
	copy.addEventListener('click', async () => {
		try {
			const text = await api(`/jobs/${job.id}/plan?format=sh`);
			script.textContent = text;
			scriptBox.open = true;
			await navigator.clipboard.writeText(text).then(() => toast('Shell script copied'), () => toast('Shown below: select and copy it'));
		} catch (err) { fill(errBox, errorBox(err, 'No script')); }
	});

	main.append(
		h('div', { class: 'spread' }, h1, actions),
		h('ul', { class: 'meta' },
			h('li', null, stateEl), h('li', null, `target ${job.target}`),
			h('li', null, h('a', { href: `#/models/${job.model}` }, `model #${job.model}`),
				model && model.name ? ` “${model.name}”` : null,
				model && model.deleted ? h('span', { class: 'cell-warn', id: 'model-deleted' }, ' · model deleted on ', when(model.deleted_at)) : null),
			h('li', null, h('a', { href: `#/datasets/${job.dataset}` }, `calibration set #${job.dataset}`)),
			h('li', null, `attempt ${job.attempt ?? 1}`), h('li', null, 'submitted ', when(job.created))),
		h('div', { class: 'progress' }, bar, h('div', { class: 'line' }, pct)),
		errBox,
		adviceBox,
		warnBox,
		calBox,
		h('section', { 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, 'Steps'), timeline, h('div', { class: 'row' }, copy), scriptBox),
		// full width: one column per build can be five or six wide
		h('section', { 'aria-labelledby': 'fg-h' }, h('h2', { id: 'fg-h' }, 'Similarity'), figsBox),
		h('section', { 'aria-labelledby': 'lg-h' },
			h('div', { class: 'spread' }, h('h2', { id: 'lg-h' }, 'Log'), h('label', { class: 'row small', for: 'follow' }, follow, 'Follow (auto-scroll)')),
			log),
		bundleBox);
	pageTitle(h1, `Job #${job.id}`);
	drawState();

	if (FINAL.has(job.state)) {
		try { log.textContent = await api(`/jobs/${job.id}/log`); log.scrollTop = log.scrollHeight; } catch { /* no log kept */ }
	} else {
		es = events(`/jobs/${job.id}/events`, {
			job: (j) => { if (j && j.id) { job = j; drawState(); } },
			state: (d) => { job = { ...job, state: d.state, attempt: d.attempt ?? job.attempt, error: d.error }; if (FINAL.has(d.state)) { es.close(); api(`/jobs/${job.id}`).then((j) => { job = j; drawState(); }); } drawState(); },
			step: (d) => { job = { ...job, step: d.name, step_index: d.index }; drawState(); },
			progress: (d) => { job = { ...job, progress: d.progress }; drawState(); },
			slurm: (d) => { job = withSlurm(job, d); drawState(); },
			log: (d) => addLog(typeof d === 'string' ? d : d.line),
			// the server labels the figures: fetch the job's rows again
			figure: () => refetch(),
			// calibration warnings (the count lowered, too few images,
			// near-duplicates, shapes far from the input)
			warning: (d) => { if (d && d.message) { live.push(d); drawState(); } },
		});
		es.onerror = () => { if (es.readyState === EventSource.CLOSED) addLog('[live log disconnected: reload to resume]'); };
	}
	return () => es && es.close();
}
