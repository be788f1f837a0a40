// convert: the new-conversion form.  Everything target-specific is
// generated from GET /api/v1/targets (quantize modes, calibration count and
// methods, tolerance, each target option with its type, default, bounds and
// help), so a new board or option needs no change here.  Preprocessing
// presets fill the input fields; the server's validation error lands next
// to the field it names.
import { api, list } from '../api.js';
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
	const targetSel = select(targets.map((t) => [t.id, `${t.id} — ${t.name}`]), query.get('target') || (targets[0] && targets[0].id));
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
		const ins = (model.inspection && model.inspection.inputs) || [];
		fill(modelInfo, ins.map((i) => h('div', null, 'input ', h('code', null, i.name), ' ', shape(i.shape), i.dynamic ? ' — dynamic: give the shape below' : '')));
		if (!mudType.value && model.suggested_model_type) mudType.value = model.suggested_model_type;
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

	// Target-specific part, rebuilt when the target changes.
	const targetBox = h('div');
	const quant = { el: null };
	const calCount = h('input', { type: 'number', min: 1, max: 10000 });
	const calMethod = h('select');
	const tol = h('input', { autocomplete: 'off' });
	let optionEls = [];
	function buildTarget() {
		const t = targets.find((x) => x.id === targetSel.value);
		if (!t) return;
		quant.el = select((t.quantize.allowed || []).map((q) => [q, q]), t.quantize.default);
		// Empty = the target's default, which kilnd lowers to the set's size
		// (with a warning); a typed count above the set's size is a 400.
		calCount.value = '';
		calCount.placeholder = t.calibration.count != null ? `default ${t.calibration.count}` : '';
		const methods = t.calibration.methods || [];
		calMethod.replaceChildren(...(methods.length ? methods.map((m) => h('option', { value: m, selected: m === t.calibration.default_method }, m))
			: [h('option', { value: '' }, 'fixed by the toolchain')]));
		calMethod.disabled = !(t.calibration.methods || []).length;
		tol.value = t.tolerance || '';
		optionEls = (t.options || []).map((o) => {
			let c;
			if (o.type === 'boolean' || o.type === 'bool') c = h('input', { type: 'checkbox', checked: o.default === true });
			else if (o.type === 'enum') c = select([['', `default (${o.default ?? 'tool default'})`], ...(o.allowed || []).map((a) => [a, a])], '');
			else if (o.type === 'integer' || o.type === 'number') c = h('input', { type: 'number', min: o.min, max: o.max, step: o.type === 'integer' ? 1 : 'any', placeholder: o.default ?? '' });
			else c = h('input', { placeholder: Array.isArray(o.default) ? o.default.join(', ') : (o.default ?? '') });
			return { o, c };
		});
		fill(targetBox,
			h('p', { class: 'muted small' }, `${t.name} · toolchain ${t.toolchain} · hardware ${t.hardware} · bundle ${t.bundle}`),
			h('div', { class: 'grid' },
				field('quantize', 'Quantize', quant.el),
				field('calibration.count', 'Calibration images used', calCount),
				field('calibration.method', 'Calibration method', calMethod),
				field('tolerance', 'Tolerance', tol, t.toolchain === 'tpu-mlir' ? 'cosine, euclidean' : 'cosine')),
			optionEls.length ? h('fieldset', null, h('legend', null, `${t.id} options`),
				h('div', { class: 'grid' }, optionEls.map(({ o, c }) => field('target_options.' + o.key, o.key, c, o.help)))) : null);
	}
	targetSel.addEventListener('change', buildTarget);
	buildTarget();

	// MUD / labels.
	const mudType = h('input', { autocomplete: 'off', placeholder: 'yolov8, yolov5, classifier…' });
	const mudKind = select([['', '—'], ['detector', 'detector'], ['pose', 'pose'], ['seg', 'seg'], ['obb', 'obb']], '');
	const labels = h('textarea', { rows: 5, placeholder: 'one label per line (or comma-separated)' });
	const labelFile = h('input', { type: 'file', accept: '.txt,.names,.csv,text/plain', id: 'f-labels-file' });
	labelFile.addEventListener('change', async () => { const f = labelFile.files[0]; if (f) labels.value = (await f.text()).trim(); });

	const submit = h('button', { type: 'submit', class: 'primary' }, 'Start conversion');
	const formErr = h('div', { 'aria-live': 'assertive' });

	function spec() {
		const s = { model: Number(modelSel.value), dataset: Number(dataSel.value), target: targetSel.value };
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
		if (quant.el && quant.el.value) s.quantize = quant.el.value;
		const cal = {};
		if (calCount.value) cal.count = Number(calCount.value);
		if (!calMethod.disabled && calMethod.value) cal.method = calMethod.value;
		if (Object.keys(cal).length) s.calibration = cal;
		const tl = numbers(tol.value);
		if (tl) s.tolerance = tl;
		const to = {};
		for (const { o, c } of optionEls) {
			if (o.type === 'boolean' || o.type === 'bool') { if (c.checked !== (o.default === true)) to[o.key] = c.checked; continue; }
			if (c.value === '') continue;
			to[o.key] = o.type === 'integer' || o.type === 'number' ? Number(c.value) : o.type === 'numbers' ? numbers(c.value) : c.value;
		}
		if (Object.keys(to).length) s.target_options = to;
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
		submit.disabled = true;
		try {
			const job = await api('/jobs', { method: 'POST', json: spec() });
			go(`/jobs/${job.id}`);
		} catch (err) {
			showFieldError(err);
		} finally {
			submit.disabled = false;
		}
	});

	form.append(
		h('fieldset', null, h('legend', null, 'What'),
			h('div', { class: 'grid' },
				field('model', 'Model', modelSel),
				field('dataset', 'Calibration set', dataSel),
				field('target', 'Target', targetSel),
				field('name', 'Bundle name', nameIn, 'base of every file name; default “model”')),
			modelInfo),
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
		h('fieldset', null, h('legend', null, 'Target settings'), targetBox),
		h('fieldset', null, h('legend', null, 'Labels and MUD'),
			h('div', { class: 'grid' },
				field('mud.model_type', 'Model type', mudType, 'how MaixPy decodes the outputs'),
				field('mud.type', 'Kind', mudKind),
				h('div', null, field('mud.labels', 'Labels', labels), field('labels-file', 'Load labels from a file', labelFile)))),
		formErr,
		h('div', { class: 'row' }, submit));
	main.append(form);
	await loadModel();
}
