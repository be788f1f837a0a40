// convert: the new-conversion form.  Everything target-specific is
// generated from GET /api/v1/targets (quantize modes, calibration count and
// methods, tolerance, each target option with its type, default, bounds and
// help), so a new board or option needs no change here.  Preprocessing
// presets fill the input fields; the server's validation error lands next
// to the field it names.  Several boards at once: tick more than one; the
// shared options are given once and each board's own (quantize, method,
// tolerance, options) in its own box; one submit ("targets": [...]) opens
// the boards grid.  Labels come from the model's metadata (Ultralytics
// "names") or the COCO-80 preset.  ?from=<job> fills the form from that
// job's spec (Edit and resubmit).
import { api, list } from '../api.js';
import { curlButton, curlOf } from '../components/curl.js';
import { COCO80 } from '../components/specs.js';
import { loadTargets } from '../components/toolchains.js';
import { errorBox, fill, h, pageTitle, shape } from '../ui.js';

const PRESETS = {
	yolo: { label: 'YOLO (mean 0, scale 1/255, RGB, letterbox)', pixel_format: 'rgb', mean: '0, 0, 0', norm: 'scale', values: '0.00392157, 0.00392157, 0.00392157', keep_aspect_ratio: true },
	imagenet: { label: 'ImageNet (mean/std, RGB)', pixel_format: 'rgb', mean: '123.675, 116.28, 103.53', norm: 'std', values: '58.395, 57.12, 57.375', keep_aspect_ratio: false },
	custom: { label: 'Custom' },
};

function numbers(text) {
	const t = String(text || '').trim();
	if (!t) return undefined;
	return t.split(/[\s,]+/).filter(Boolean).map(Number);
}

function field(key, label, control, hint) {
	const id = control.id || ('f-' + key.replace(/[^a-z0-9]+/gi, '-'));
	control.id = id;
	const err = h('span', { class: 'err', id: id + '-err', role: 'alert' });
	control.setAttribute('aria-describedby', [hint ? id + '-hint' : '', id + '-err'].filter(Boolean).join(' '));
	return h('div', { class: 'field', dataset: { field: key } },
		h('label', { for: id }, label),
		control,
		hint ? h('span', { class: 'hint', id: id + '-hint' }, hint) : null,
		err);
}

function select(options, value) {
	return h('select', null, options.map(([v, text]) => h('option', { value: v, selected: String(v) === String(value) }, text)));
}

export default async function render(main, { query, go }) {
	const h1 = h('h1', null, 'New conversion');
	main.append(h1);
	pageTitle(h1, 'New conversion');
	let targetsBody;
	try {
		targetsBody = await loadTargets();
	} catch (err) {
		main.append(errorBox(err, 'The target list is not available, so the form cannot be built'),
			h('p', { class: 'muted' }, 'The form is generated from GET /api/v1/targets. Until it answers, submit jobs with curl (see the README).'));
		return;
	}
	const targets = targetsBody.targets || [];
	const [models, datasets] = await Promise.all([list('/models', { limit: 1000 }), list('/datasets', { limit: 1000 }).catch(() => ({ items: [] }))]);

	const form = h('form', { novalidate: true, id: 'convert-form' });
	const modelSel = select([['', 'Choose a model…'], ...models.items.map((m) => [m.id, `${m.name} (#${m.id})`])], query.get('model') || '');
	const dataSel = select([['', 'Choose a calibration set…'], ...datasets.items.map((d) => [d.id, `${d.name} (${d.images} images)`])], query.get('dataset') || '');
	// The boards: a checkbox each; the first ticked is the single target.
	const wanted = new Set((query.get('targets') || query.get('target') || (targets[0] && targets[0].id) || '').split(',').filter(Boolean));
	const boardChecks = targets.map((t) => h('input', { type: 'checkbox', value: t.id, id: 'f-board-' + t.id, checked: wanted.has(t.id) }));
	const boardsBox = h('div', { class: 'boards', id: 'f-targets', role: 'group', 'aria-label': 'Boards' },
		boardChecks.map((c, i) => h('label', { class: 'row board', for: c.id }, c, h('span', null, h('strong', null, targets[i].id), ' ', h('span', { class: 'muted small' }, targets[i].name)))));
	const chosen = () => boardChecks.filter((c) => c.checked).map((c) => c.value);
	const nameIn = h('input', { autocomplete: 'off', placeholder: 'model', pattern: '[A-Za-z0-9][A-Za-z0-9._-]{0,39}' });

	// Outputs: the server's suggestion, one of the model's suggestions, or a list.
	const outSel = h('select', { id: 'f-outputs-mode' });
	const outList = h('textarea', { rows: 4, placeholder: 'one tensor name per line', id: 'f-outputs' });
	const modelInfo = h('div', { class: 'small muted', 'aria-live': 'polite' });
	let model = null;
	async function loadModel() {
		model = null;
		fill(modelInfo);
		outSel.replaceChildren(h('option', { value: 'suggested' }, 'Suggested by Kiln (best match)'));
		if (!modelSel.value) return;
		try {
			model = await api(`/models/${modelSel.value}`);
		} catch (err) { fill(modelInfo, errorBox(err)); return; }
		(model.suggested_outputs || []).forEach((sg, i) => outSel.append(h('option', { value: 'sg' + i }, `${sg.model_type || sg.family}: ${sg.tensors.length} tensor(s)`)));
		outSel.append(h('option', { value: 'custom' }, 'These tensors…'));
		const want = query.get('suggestion');
		if (want !== null && model.suggested_outputs && model.suggested_outputs[want]) outSel.value = 'sg' + want;
		syncOutputs();
		// "Convert with these picks" on the graph page: ?output=<tensor> per pick.
		const picks = query.getAll('output');
		if (picks.length && String(model.id) === query.get('model')) { outSel.value = 'custom'; syncOutputs(); outList.value = picks.join('\n'); }
		const ins = (model.inspection && model.inspection.inputs) || [];
		fill(modelInfo, ins.map((i) => h('div', null, 'input ', h('code', null, i.name), ' ', shape(i.shape), i.dynamic ? ' — dynamic: give the shape below' : '')));
		if (!mudType.value && model.suggested_model_type) mudType.value = model.suggested_model_type;
		const names = (model.inspection && model.inspection.suggested_labels) || [];
		fromModel.disabled = !names.length;
		fromModel.textContent = names.length ? `From the model (${names.length} names)` : 'From the model (none in its metadata)';
		if (names.length && !labels.value.trim()) {
			labels.value = names.join('\n');
			labelsSource.textContent = `${names.length} labels from the model's metadata (names)`;
		}
	}
	function syncOutputs() {
		const v = outSel.value;
		outList.disabled = v !== 'custom';
		if (v.startsWith('sg') && model) outList.value = model.suggested_outputs[Number(v.slice(2))].tensors.join('\n');
		if (v === 'suggested') outList.value = '';
	}
	outSel.addEventListener('change', syncOutputs);
	modelSel.addEventListener('change', loadModel);

	// Input preprocessing with presets.
	const preset = select(Object.entries(PRESETS).map(([k, p]) => [k, p.label]), 'yolo');
	const shapeIn = h('input', { placeholder: 'e.g. 1, 3, 640, 640 (only for dynamic inputs)', autocomplete: 'off' });
	const pix = select([['rgb', 'RGB'], ['bgr', 'BGR'], ['gray', 'Gray']], 'rgb');
	const meanIn = h('input', { autocomplete: 'off' });
	const norm = select([['scale', 'scale (multiply)'], ['std', 'std (divide)']], 'scale');
	const normVals = h('input', { autocomplete: 'off' });
	const keep = h('input', { type: 'checkbox', id: 'f-keep' });
	const layoutSel = select([['', 'model default'], ['nchw', 'NCHW'], ['nhwc', 'NHWC']], '');
	function applyPreset() {
		const p = PRESETS[preset.value];
		if (!p.pixel_format) return;
		pix.value = p.pixel_format;
		meanIn.value = p.mean;
		norm.value = p.norm;
		normVals.value = p.values;
		keep.checked = p.keep_aspect_ratio;
	}
	preset.addEventListener('change', applyPreset);
	applyPreset();

	// Each board's own part, kept per board so ticking another keeps what
	// was typed.  One board: its fields carry the spec's own keys
	// (quantize, calibration.method, tolerance, target_options.<key>), so
	// the server's error lands there; several: under target_options.<board>.
	const targetBox = h('div', { id: 'board-settings' });
	const calCount = h('input', { type: 'number', min: 1, max: 10000, id: 'f-calibration-count' });
	const sections = new Map();
	function boardSection(t) {
		if (sections.has(t.id)) return sections.get(t.id);
		const quant = select((t.quantize.allowed || []).map((q) => [q, q]), t.quantize.default);
		const methods = t.calibration.methods || [];
		const calMethod = h('select', null, methods.length ? methods.map((m) => h('option', { value: m, selected: m === t.calibration.default_method }, m))
			: [h('option', { value: '' }, 'fixed by the toolchain')]);
		calMethod.disabled = !methods.length;
		const tol = h('input', { autocomplete: 'off', value: t.tolerance || '' });
		const optionEls = (t.options || []).map((o) => {
			let c;
			if (o.type === 'boolean' || o.type === 'bool') c = h('input', { type: 'checkbox', checked: o.default === true });
			else if (o.type === 'enum') c = select([['', `default (${o.default ?? 'tool default'})`], ...(o.allowed || []).map((a) => [a, a])], '');
			else if (o.type === 'integer' || o.type === 'number') c = h('input', { type: 'number', min: o.min, max: o.max, step: o.type === 'integer' ? 1 : 'any', placeholder: o.default ?? '' });
			else c = h('input', { placeholder: Array.isArray(o.default) ? o.default.join(', ') : (o.default ?? '') });
			return { o, c };
		});
		const sec = { t, quant, calMethod, tol, optionEls, el: null, single: null };
		sections.set(t.id, sec);
		return sec;
	}
	// (Re)draws the board boxes; ids depend on single/several so labels stay unique.
	function buildTarget() {
		const ids = chosen();
		const single = ids.length === 1;
		const t0 = targets.find((x) => x.id === ids[0]);
		calCount.placeholder = single && t0 && t0.calibration.count != null ? `default ${t0.calibration.count}` : 'each board\'s default';
		fill(targetBox, ids.map((id) => {
			const sec = boardSection(targets.find((x) => x.id === id));
			const t = sec.t;
			if (sec.single !== single || !sec.el) {
				const key = (k) => (single ? k : `target_options.${t.id}.${k}`);
				const fid = (k) => (single ? undefined : `f-${t.id}-${k}`.replace(/[^a-z0-9-]+/gi, '-'));
				for (const [el, k] of [[sec.quant, 'quantize'], [sec.calMethod, 'calibration.method'], [sec.tol, 'tolerance']]) el.id = fid(k) || 'f-' + k.replace(/[^a-z0-9]+/gi, '-');
				for (const { o, c } of sec.optionEls) c.id = fid(o.key) || 'f-target-options-' + o.key.replace(/_/g, '-');
				sec.el = h('fieldset', { class: 'board-settings', dataset: { board: t.id } }, h('legend', null, single ? `${t.id} settings` : `${t.id} — its own settings`),
					h('p', { class: 'muted small' }, `${t.name} · toolchain ${t.toolchain} · hardware ${t.hardware} · bundle ${t.bundle}`),
					h('div', { class: 'grid' },
						field(key('quantize'), 'Quantize', sec.quant),
						field(key('calibration.method'), 'Calibration method', sec.calMethod),
						field(key('tolerance'), 'Tolerance', sec.tol, t.toolchain === 'tpu-mlir' ? 'cosine, euclidean' : 'cosine')),
					sec.optionEls.length ? h('details', { open: single }, h('summary', null, `${t.id} options`),
						h('div', { class: 'grid' }, sec.optionEls.map(({ o, c }) => field(single ? 'target_options.' + o.key : `target_options.${t.id}.${o.key}`, o.key, c, o.help)))) : null);
				sec.single = single;
			}
			return sec.el;
		}), ids.length ? null : h('p', { class: 'err' }, 'Tick at least one board.'));
		submit.textContent = single || !ids.length ? 'Start conversion' : `Start ${ids.length} conversions`;
	}
	// one board's own part of the spec
	function boardSpec(sec) {
		const b = {};
		if (sec.quant.value) b.quantize = sec.quant.value;
		if (!sec.calMethod.disabled && sec.calMethod.value) b.calibration = { method: sec.calMethod.value };
		const tl = numbers(sec.tol.value);
		if (tl) b.tolerance = tl;
		const to = {};
		for (const { o, c } of sec.optionEls) {
			if (o.type === 'boolean' || o.type === 'bool') { if (c.checked !== (o.default === true)) to[o.key] = c.checked; continue; }
			if (c.value === '') continue;
			to[o.key] = o.type === 'integer' || o.type === 'number' ? Number(c.value) : o.type === 'numbers' ? numbers(c.value) : c.value;
		}
		return { b, to };
	}

	// MUD / labels.
	const mudType = h('input', { autocomplete: 'off', placeholder: 'yolov8, yolov5, classifier…' });
	const mudKind = select([['', '—'], ['detector', 'detector'], ['pose', 'pose'], ['seg', 'seg'], ['obb', 'obb']], '');
	const labels = h('textarea', { rows: 5, placeholder: 'one label per line (or comma-separated)' });
	const labelFile = h('input', { type: 'file', accept: '.txt,.names,.csv,text/plain', id: 'f-labels-file' });
	const labelsSource = h('span', { class: 'hint', id: 'labels-source', 'aria-live': 'polite' });
	labelFile.addEventListener('change', async () => { const f = labelFile.files[0]; if (f) { labels.value = (await f.text()).trim(); labelsSource.textContent = `from ${f.name}`; } });
	const coco = h('button', { type: 'button', class: 'small', id: 'labels-coco' }, 'COCO-80 preset');
	coco.addEventListener('click', () => { labels.value = COCO80.join('\n'); labelsSource.textContent = 'the 80 COCO classes (Ultralytics coco.yaml order)'; });
	const fromModel = h('button', { type: 'button', class: 'small', id: 'labels-model', disabled: true }, 'From the model');
	fromModel.addEventListener('click', () => {
		const names = (model && model.inspection && model.inspection.suggested_labels) || [];
		labels.value = names.join('\n');
		labelsSource.textContent = `${names.length} labels from the model's metadata (names)`;
	});

	const submit = h('button', { type: 'submit', class: 'primary' }, 'Start conversion');
	const formErr = h('div', { 'aria-live': 'assertive' });

	function spec() {
		const ids = chosen();
		const s = { model: Number(modelSel.value), dataset: Number(dataSel.value) };
		if (ids.length === 1) s.target = ids[0];
		else s.targets = ids;
		if (nameIn.value.trim()) s.name = nameIn.value.trim();
		if (outSel.value === 'suggested') s.outputs = 'suggested';
		else s.outputs = outList.value.split('\n').map((x) => x.trim()).filter(Boolean);
		const input = {};
		const shp = numbers(shapeIn.value);
		if (shp) input.shape = shp;
		input.pixel_format = pix.value;
		const mean = numbers(meanIn.value);
		if (mean) input.mean = mean;
		const nv = numbers(normVals.value);
		if (nv) input[norm.value] = nv;
		input.keep_aspect_ratio = keep.checked;
		if (layoutSel.value) input.layout = layoutSel.value;
		s.input = input;
		const cal = {};
		if (calCount.value) cal.count = Number(calCount.value);
		if (ids.length === 1) {
			const { b, to } = boardSpec(sections.get(ids[0]));
			Object.assign(s, b);
			if (b.calibration || cal.count) s.calibration = { ...cal, ...(b.calibration || {}) };
			if (Object.keys(to).length) s.target_options = to;
		} else {
			if (cal.count) s.calibration = cal;
			const per = {};
			for (const id of ids) {
				const { b, to } = boardSpec(sections.get(id));
				const mine = { ...to, ...b };
				if (Object.keys(mine).length) per[id] = mine;
			}
			if (Object.keys(per).length) s.target_options = per;
		}
		const mud = {};
		if (mudType.value.trim()) mud.model_type = mudType.value.trim();
		if (mudKind.value) mud.type = mudKind.value;
		const lb = labels.value.split(/\n|,/).map((x) => x.trim()).filter(Boolean);
		if (lb.length) mud.labels = lb;
		if (Object.keys(mud).length) s.mud = mud;
		return s;
	}

	function clearErrors() {
		formErr.replaceChildren();
		for (const e of form.querySelectorAll('.err')) e.textContent = '';
		for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
	}

	function showFieldError(err) {
		const f = (err.field || '').replace(/\[\d+\]$/, '');
		let box = null;
		for (let key = f; key && !box; key = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '') {
			box = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
		}
		if (!box) { fill(formErr, errorBox(err, 'The server refused the job')); return; }
		box.querySelector('.err').textContent = err.message;
		const c = box.querySelector('input, select, textarea');
		if (c) { c.setAttribute('aria-invalid', 'true'); c.focus(); }
	}

	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors();
		let bad = false;
		for (const [sel, key, text] of [[modelSel, 'model', 'Choose a model.'], [dataSel, 'dataset', 'Choose a calibration set.']]) {
			if (!sel.value) { showFieldError({ field: key, message: text }); bad = true; }
		}
		if (bad) return;
		if (!chosen().length) { showFieldError({ field: 'targets', message: 'Tick at least one board.' }); return; }
		submit.disabled = true;
		try {
			const job = await api('/jobs', { method: 'POST', json: spec() });
			go(job.group ? `/groups/${job.group}` : `/jobs/${job.id}`);
		} catch (err) {
			showFieldError(err);
		} finally {
			submit.disabled = false;
		}
	});

	for (const c of boardChecks) c.addEventListener('change', buildTarget);
	buildTarget();

	// Edit and resubmit: every field from job #from's stored spec.
	async function applySpec(sp, from) {
		modelSel.value = String(sp.model);
		dataSel.value = String(sp.dataset || '');
		for (const c of boardChecks) c.checked = c.value === sp.target;
		buildTarget();
		await loadModel();
		nameIn.value = sp.name || '';
		if (Array.isArray(sp.outputs)) {
			outSel.value = 'custom';
			syncOutputs();
			outList.value = sp.outputs.join('\n');
		}
		const inp = sp.input || {};
		preset.value = 'custom';
		const ins = (model && model.inspection && model.inspection.inputs) || [];
		if (inp.shape && ins.some((i) => i.dynamic)) shapeIn.value = inp.shape.join(', ');
		if (inp.pixel_format) pix.value = inp.pixel_format;
		if (inp.mean) meanIn.value = inp.mean.join(', ');
		if (inp.std) { norm.value = 'std'; normVals.value = inp.std.join(', '); } else if (inp.scale) { norm.value = 'scale'; normVals.value = inp.scale.join(', '); }
		keep.checked = !!inp.keep_aspect_ratio;
		layoutSel.value = inp.layout || '';
		const sec = sections.get(sp.target);
		if (sec) {
			if (sp.quantize) sec.quant.value = sp.quantize;
			if (sp.calibration && sp.calibration.method && !sec.calMethod.disabled) sec.calMethod.value = sp.calibration.method;
			if (Array.isArray(sp.tolerance)) sec.tol.value = sp.tolerance.join(', ');
			for (const { o, c } of sec.optionEls) {
				const v = (sp.target_options || {})[o.key];
				if (v === undefined) continue;
				if (c.type === 'checkbox') c.checked = v === true;
				else c.value = Array.isArray(v) ? v.join(', ') : String(v);
			}
		}
		if (sp.calibration && sp.calibration.count) calCount.value = sp.calibration.count;
		const mud = sp.mud || {};
		mudType.value = mud.model_type || '';
		mudKind.value = mud.type || '';
		if (mud.labels) { labels.value = mud.labels.join('\n'); labelsSource.textContent = `from job #${from}`; }
		fill(formErr, h('div', { class: 'alert info', id: 'from-job' }, h('strong', null, `Editing the spec of job #${from}`),
			'Change what you need and start the conversion: a new job is made, job #', String(from), ' stays as it was.'));
	}

	form.append(
		h('fieldset', null, h('legend', null, 'What'),
			h('div', { class: 'grid' },
				field('model', 'Model', modelSel),
				field('dataset', 'Calibration set', dataSel),
				field('name', 'Bundle name', nameIn, 'base of every file name; default “model”'),
				field('calibration.count', 'Calibration images used', calCount, 'empty: each board\'s default, at most the set\'s size')),
			modelInfo),
		h('fieldset', { dataset: { field: 'targets' } }, h('legend', null, 'Boards'),
			h('p', { class: 'hint' }, 'Tick several to convert for each from this one form: the options below are shared, each board\'s own are in its box.'),
			boardsBox, h('span', { class: 'err', role: 'alert' })),
		h('fieldset', null, h('legend', null, 'Outputs'),
			field('outputs', 'Quantize up to', outSel),
			h('div', { class: 'field', dataset: { field: 'outputs' } }, h('label', { for: 'f-outputs' }, 'Tensors'), outList, h('span', { class: 'err' }))),
		h('fieldset', null, h('legend', null, 'Input preprocessing'),
			h('div', { class: 'grid' },
				field('preset', 'Preset', preset),
				field('input.shape', 'Input shape', shapeIn),
				field('input.pixel_format', 'Pixel format', pix),
				field('input.layout', 'Layout', layoutSel),
				field('input.mean', 'Mean (per channel)', meanIn, 'y = (x − mean) × scale = (x − mean) ÷ std'),
				field('input.scale', 'Normalisation', norm),
				field('input.std', 'Scale or std values', normVals),
				h('div', { class: 'field', dataset: { field: 'input.keep_aspect_ratio' } },
					h('label', { class: 'row', for: 'f-keep' }, keep, 'Letterbox (keep aspect ratio)'), h('span', { class: 'err' })))),
		h('fieldset', null, h('legend', null, 'Board settings'), targetBox),
		h('fieldset', null, h('legend', null, 'Labels and MUD'),
			h('div', { class: 'grid' },
				field('mud.model_type', 'Model type', mudType, 'the head the board\'s runtime decodes (YOLOv5, YOLOv8, YOLO11, classifier…)'),
				field('mud.type', 'Kind', mudKind),
				h('div', null, field('mud.labels', 'Labels', labels), labelsSource,
					h('div', { class: 'row' }, fromModel, coco), field('labels-file', 'Load labels from a file', labelFile)))),
		formErr,
		h('div', { class: 'row' }, submit,
			curlButton(() => curlOf({ method: 'POST', path: '/jobs', json: spec() }), { id: 'convert-curl' })));
	main.append(form);
	const from = query.get('from');
	if (from) {
		try {
			const j = await api(`/jobs/${encodeURIComponent(from)}`);
			await applySpec(j.spec || {}, j.id);
		} catch (err) { fill(formErr, errorBox(err, `Cannot read job #${from}`)); }
	} else {
		await loadModel();
	}
}
