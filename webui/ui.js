// ui: small DOM helpers shared by every page — an element builder, number
// and time formatting, error boxes, the toast.  No page state lives here.
import { ApiError } from './api.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs, svg) {
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
		else if (k === 'text') el.textContent = v;
		else if (k === 'dataset') Object.assign(el.dataset, v);
		else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
		else if (!svg && (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected')) el[k] = v;
		else el.setAttribute(k, v === true ? '' : v);
	}
}

function append(el, children) {
	for (const c of children.flat(Infinity)) {
		if (c === null || c === undefined || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

// h('a', {href, class, onClick}, ...children): an HTML element.
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	apply(el, attrs, false);
	append(el, children);
	return el;
}

// s('rect', {...}): an SVG element.
export function s(tag, attrs, ...children) {
	const el = document.createElementNS(SVG_NS, tag);
	apply(el, attrs, true);
	append(el, children);
	return el;
}

export function bytes(n) {
	if (n === null || n === undefined) return '—';
	const units = ['B', 'KB', 'MB', 'GB', 'TB'];
	let i = 0;
	let v = n;
	while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
	return (i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

// One formatter for every date on a page: toLocaleString with options builds
// a new one per call, which was most of the time a 200-row list took.
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function when(iso) {
	if (!iso) return '—';
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return iso;
	return dateFormat.format(d);
}

export function isDynamicDim(d) {
	return typeof d !== 'number' || d <= 0;
}

// A shape as [1, 3, <mark>H</mark>, 640] with dynamic dims highlighted.
export function shape(dims) {
	if (!Array.isArray(dims)) return h('span', { class: 'muted' }, 'unknown rank');
	const parts = ['['];
	dims.forEach((d, i) => {
		if (i) parts.push(', ');
		parts.push(isDynamicDim(d)
			? h('mark', { class: 'dyn', title: 'dynamic dimension: give a fixed size when converting' }, d === null || d === undefined ? '?' : String(d))
			: String(d));
	});
	parts.push(']');
	return h('span', { class: 'mono shape' }, parts);
}

// An error box for any thrown value; ApiError shows the server's message.
export function errorBox(err, title = 'Something went wrong') {
	const msg = err instanceof ApiError || err instanceof Error ? err.message : String(err);
	const extra = err instanceof ApiError && err.code === 'csrf_failed'
		? ' (the page lost its CSRF token: reload it, or sign in again)' : '';
	return h('div', { class: 'alert bad', role: 'alert' }, h('strong', null, title), msg + extra);
}

let toastTimer = null;
export function toast(text) {
	const el = document.getElementById('toast');
	el.textContent = text;
	el.classList.add('show');
	clearTimeout(toastTimer);
	toastTimer = setTimeout(() => el.classList.remove('show'), 3500);
}

// Gives each cell of rows its column's name (data-label), which a phone
// shows above the cell when the table is a stack of cards.  table() does it
// for the rows it is given; a page that fills a tbody later (paging) calls
// it for the rows it adds.  Returns rows.
export function labelRows(head, rows) {
	const names = head.map((c) => (typeof c === 'string' ? c : c.textContent || ''));
	for (const tr of [rows].flat(Infinity)) {
		if (!(tr instanceof Element)) continue;
		[...tr.children].forEach((td, i) => { if (names[i] && !td.dataset.label) td.dataset.label = names[i]; });
	}
	return rows;
}

// A table inside a scroll box: head = ['Name', ...], rows = [[cells], ...].
// A table of more than three columns turns into one card per row on a
// phone (app.css, max-width 640px): each cell is labelled with its column's
// name from data-label, so nothing is cut off or scrolled sideways.
export function table(head, rows, attrs = {}) {
	labelRows(head, rows);
	const cls = [attrs.class, head.length > 3 ? 'cards' : null].filter(Boolean).join(' ');
	return h('div', { class: 'table-wrap' },
		h('table', { ...attrs, class: cls || undefined },
			h('thead', null, h('tr', null, head.map((c) => typeof c === 'string'
				? h('th', { scope: 'col' }, c) : c))),
			h('tbody', null, rows)));
}

export function badge(text, kind = '') {
	return h('span', { class: ['badge', kind] }, text);
}

// Replaces the children of el.
export function fill(el, ...children) {
	el.replaceChildren();
	append(el, children);
	return el;
}

// Sets the page title and moves focus to the page's heading, so keyboard
// and screen-reader users land at the top of the new page.
export function pageTitle(h1, text) {
	document.title = text + ' · Kiln';
	h1.setAttribute('tabindex', '-1');
	queueMicrotask(() => h1.focus({ preventScroll: true }));
}

export function debounce(fn, ms) {
	let t = null;
	return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// A name the server accepts (1-64 of A-Z a-z 0-9 . _ -) from a file name.
export function safeName(filename) {
	const base = filename.replace(/\.(onnx|tar\.gz|tgz|tar\.xz|txz|tar|zip)$/i, '');
	const n = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 64);
	return n || 'model';
}
