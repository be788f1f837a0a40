// curl: "Copy as curl" next to an action (upload, convert, download,
// deploy) — the same request as a command a script or CI job can run
// (issue 17).  The token is left as $KILN_TOKEN: the browser holds only a
// session cookie, and a command pasted into a shell history should not
// carry a secret anyway.  The command is shown as well as copied, so it
// can be read and checked before it is used.
import { h, toast } from '../ui.js';

// Single-quoted for a POSIX shell: ' becomes '\''.
export function shq(s) {
	return `'${String(s).replace(/'/g, "'\\''")}'`;
}

// { method, path, json, upload, output } -> the curl command line.
export function curlOf({ method = 'GET', path, json, upload, output }) {
	const parts = ['curl -fsS', '-H "Authorization: Bearer $KILN_TOKEN"'];
	if (json !== undefined) parts.push("-H 'Content-Type: application/json'", '-d ' + shq(JSON.stringify(json)));
	if (upload) parts.push('-T ' + shq(upload));
	if (output) parts.push('-OJ');
	if (method !== 'GET' && (upload || json === undefined)) parts.push('-X ' + method);
	parts.push(shq(location.origin + '/api/v1' + path));
	return parts.join(' ');
}

// A button that shows and copies make()'s command (make is called on each
// click, so it reflects the form as it is then).
export function curlButton(make, { id } = {}) {
	const code = h('code', { class: 'curl-cmd', hidden: true, id: id ? id + '-cmd' : undefined });
	const btn = h('button', { type: 'button', class: 'small', id }, 'Copy as curl');
	btn.addEventListener('click', async () => {
		let text;
		try {
			text = make();
		} catch (err) {
			toast(err.message || String(err));
			return;
		}
		code.textContent = text;
		code.hidden = false;
		try {
			await navigator.clipboard.writeText(text);
			toast('Copied: set KILN_TOKEN to a token, then run it');
		} catch {
			toast('Shown below: copy it, set KILN_TOKEN, run it');
		}
	});
	return h('div', { class: 'curl-copy' }, btn, code);
}
