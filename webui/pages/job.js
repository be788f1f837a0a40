// job: one conversion, live — the steps as a timeline with a progress bar,
// the log over Server-Sent Events (auto-scroll, with a pause), similarity
// figures as a small chart per output, the exact commands as a shell
// script, the error with what to do next, Cancel/Retry, and the bundle.
import { api, events } from '../api.js';
import { badge, bytes, errorBox, fill, h, pageTitle, s, table, toast, when } from '../ui.js';
import { STATE_KIND } from './jobs.js';

const NEXT_STEP = {
	toolchain_unavailable: 'The toolchain for this target is not installed: see the toolchain strip above for the command that gets it, then Retry.',
	step_failed: 'A tool stopped with an error: read the last lines of the log. Often the input shape, the outputs or the preprocessing need changing — start a new conversion with them fixed.',
	missing_output: 'The tool finished but did not write a file it should have: check the log for warnings; Retry once, then report it.',
	timeout: 'A step ran longer than its time limit: a big model may need a larger limit, or fewer calibration images.',
	inputs: 'The model or calibration set could not be read: upload them again.',
	interrupted: 'kilnd stopped while the job ran: Retry.',
	plan_invalid: 'The conversion plan was refused: the options do not fit this target.',
	bundle_failed: 'Packing the bundle failed: check free disk space and Retry.',
};
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

function figureChart(output, figs) {
	// One bar per metric in 0..1 (cosine, similarity); others as text.
	const metrics = Object.entries(figs).filter(([k, v]) => typeof v === 'number' && !['step', 'layers'].includes(k));
	const unit = metrics.filter(([, v]) => v >= 0 && v <= 1);
	const W = 320, row = 22;
	const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${Math.max(1, unit.length) * row + 6}`, role: 'img', 'aria-label': `${output}: ` + metrics.map(([k, v]) => `${k} ${v}`).join(', ') });
	unit.forEach(([k, v], i) => {
		const y = i * row + 4;
		svg.append(s('text', { x: 0, y: y + 13 }, k),
			s('rect', { class: 'axis', x: 90, y: y + 3, width: 180, height: 12, fill: 'none' }),
			s('rect', { class: 'pt', x: 90, y: y + 3, width: Math.max(1, 180 * v), height: 12 }),
			s('text', { x: 276, y: y + 13 }, v.toFixed(4)));
	});
	const rest = metrics.filter(([, v]) => !(v >= 0 && v <= 1));
	return h('div', { class: 'card' }, h('h3', null, output, figs.status ? ' ' : null, figs.status ? badge(figs.status, figs.passed === false ? 'bad' : 'ok') : null),
		unit.length ? svg : null,
		rest.length ? h('p', { class: 'small muted' }, rest.map(([k, v]) => `${k} ${v}`).join(' · ')) : null);
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
	const figsBox = h('div', { class: 'grid', id: 'figures' });
	const bundleBox = h('div', { id: 'bundle' });
	const actions = h('div', { class: 'row' });
	let plan = null;
	let es = null;
	let logLines = 0;

	try { plan = await api(`/jobs/${job.id}/plan`); } catch { plan = null; }

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
			return h('li', { class: cls }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', null, h('strong', null, st.name), ' ', h('code', { class: 'small' }, (st.argv || []).slice(0, 3).join(' '), (st.argv || []).length > 3 ? ' …' : '')),
				h('span', { class: 'small muted' }, cls === 'done' ? 'done' : cls === 'running' ? 'running' : cls === 'failed' ? 'failed' : ''));
		}));
		if (!steps.length) timeline.append(h('li', { class: 'muted' }, job.state === 'queued' ? 'Waiting for a worker…' : 'No plan stored.'));
	}

	function drawState() {
		fill(stateEl, badge(job.state, STATE_KIND[job.state]), job.cached_from ? [' ', badge(`cached from #${job.cached_from}`)] : null);
		bar.value = job.progress || (job.state === 'succeeded' ? 1 : 0);
		pct.textContent = `${Math.round((bar.value || 0) * 100)} %${job.step ? ' · ' + job.step : ''}`;
		fill(errBox, job.error ? h('div', { class: 'alert bad', role: 'alert' },
			h('strong', null, `${job.error.code}: ${job.error.message}`), NEXT_STEP[job.error.code] || 'Read the log below; Retry when the cause is fixed.') : null);
		const figs = job.figures || [];
		fill(figsBox, figs.length ? figs.map((f) => figureChart(f.output || 'output', f)) : h('p', { class: 'muted' }, 'Similarity figures appear here as the tools print them.'));
		const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel');
		cancel.addEventListener('click', () => act('cancel'));
		const retry = h('button', { type: 'button' }, 'Retry');
		retry.addEventListener('click', () => act('retry'));
		fill(actions, FINAL.has(job.state) ? retry : cancel);
		drawTimeline();
		if (job.bundle && !bundleBox.dataset.loaded) loadBundle();
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
				h('a', { class: 'button primary', href: `/api/v1/bundles/${job.bundle}/archive`, download: '' }, 'Download .tar.gz')),
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
			h('li', null, h('a', { href: `#/models/${job.model}` }, `model #${job.model}`)),
			h('li', null, h('a', { href: `#/datasets/${job.dataset}` }, `calibration set #${job.dataset}`)),
			h('li', null, `attempt ${job.attempt ?? 1}`), h('li', null, 'submitted ', when(job.created))),
		h('div', { class: 'progress' }, bar, h('div', { class: 'line' }, pct)),
		errBox,
		h('div', { class: 'grid' },
			h('section', { 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, 'Steps'), timeline, h('div', { class: 'row' }, copy), scriptBox),
			h('section', { 'aria-labelledby': 'fg-h' }, h('h2', { id: 'fg-h' }, 'Similarity'), figsBox)),
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
			log: (d) => addLog(typeof d === 'string' ? d : d.line),
			figure: (d) => { job = { ...job, figures: [...(job.figures || []).filter((f) => f.output !== d.output), d] }; drawState(); },
		});
		es.onerror = () => { if (es.readyState === EventSource.CLOSED) addLog('[live log disconnected: reload to resume]'); };
	}
	return () => es && es.close();
}
