// api: the one wrapper around fetch.  Adds the CSRF header to
// state-changing requests (the session cookie itself is HttpOnly and rides
// along by the browser), turns the server's {"error": {code, message,
// field}} into an ApiError, and ends the session in the store on a 401 so
// every page falls back to the sign-in form with the server's words.
import { session, signedOut } from './store.js';

export class ApiError extends Error {
	constructor(status, code, message, field = null) {
		super(message);
		this.status = status;
		this.code = code;
		this.field = field;
	}
}

const SAFE = new Set(['GET', 'HEAD']);

function headersFor(method, extra = {}) {
	const h = { Accept: 'application/json', ...extra };
	if (!SAFE.has(method) && session.csrf) h['X-CSRF-Token'] = session.csrf;
	return h;
}

function errorFrom(status, body, fallback) {
	const e = body && body.error;
	if (e) return new ApiError(status, e.code, e.message, e.field || null);
	return new ApiError(status, 'http_' + status, fallback || `the server answered ${status}`);
}

function handleAuth(err, opts) {
	if (err.status === 401 && !opts.quiet401) signedOut(err.message);
	return err;
}

// api('/models', {method, json, body, headers, signal, quiet401}) → parsed
// JSON (null for 204).  Throws ApiError.
export async function api(path, opts = {}) {
	const method = opts.method || 'GET';
	const extra = { ...(opts.headers || {}) };
	let body = opts.body;
	if (opts.json !== undefined) {
		body = JSON.stringify(opts.json);
		extra['Content-Type'] = 'application/json';
	}
	let res;
	try {
		res = await fetch('/api/v1' + path, {
			method, body, headers: headersFor(method, extra), signal: opts.signal,
			credentials: 'same-origin', cache: 'no-store',
		});
	} catch (e) {
		if (e.name === 'AbortError') throw e;
		throw new ApiError(0, 'network', 'kilnd cannot be reached: is it running?');
	}
	if (res.status === 204) return null;
	const type = res.headers.get('Content-Type') || '';
	const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
	if (!res.ok) throw handleAuth(errorFrom(res.status, data), opts);
	return data;
}

// Uploads a File as the raw request body with XMLHttpRequest, because fetch
// reports no upload progress.  onProgress(sentBytes, totalBytes) runs as
// bytes leave; onSent() once all are out (the server then inspects).
// Returns {promise, abort}.
export function upload(path, file, { onProgress, onSent, contentType } = {}) {
	const xhr = new XMLHttpRequest();
	const promise = new Promise((resolve, reject) => {
		xhr.open('POST', '/api/v1' + path);
		const h = headersFor('POST', { 'Content-Type': contentType || 'application/octet-stream' });
		for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
		xhr.responseType = 'json';
		xhr.upload.onprogress = (ev) => onProgress && onProgress(ev.loaded, ev.lengthComputable ? ev.total : file.size);
		xhr.upload.onload = () => onSent && onSent();
		xhr.onload = () => {
			if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
			else reject(handleAuth(errorFrom(xhr.status, xhr.response), {}));
		};
		xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload was cut off: kilnd went away or the connection dropped'));
		xhr.onabort = () => reject(new ApiError(0, 'aborted', 'upload cancelled'));
		xhr.send(file);
	});
	return { promise, abort: () => xhr.abort() };
}

// Pages through a list endpoint: returns {items, next}.
export function list(path, params = {}) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
	const qs = q.toString();
	return api(path + (qs ? (path.includes('?') ? '&' : '?') + qs : ''));
}

// Server-Sent Events on an /api/v1 path (the cookie authenticates it).
export function events(path, handlers) {
	const es = new EventSource('/api/v1' + path);
	for (const [name, fn] of Object.entries(handlers)) {
		es.addEventListener(name, (ev) => {
			let data = ev.data;
			try { data = JSON.parse(ev.data); } catch { /* plain text line */ }
			fn(data, ev);
		});
	}
	return es;
}
