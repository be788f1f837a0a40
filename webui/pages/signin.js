// signin: trade a token for a session cookie.  Explains where the first
// token is, and shows why the previous session ended (expired, signed out,
// token revoked) or why this token was refused.
import { api } from '../api.js';
import { session, signedIn } from '../store.js';
import { h, pageTitle } from '../ui.js';

export default function render(main, { afterSignIn }) {
	const h1 = h('h1', null, 'Sign in to Kiln');
	const err = h('p', { class: 'err', id: 'token-err', role: 'alert' });
	const input = h('input', {
		id: 'token', name: 'token', type: 'password', autocomplete: 'current-password',
		spellcheck: 'false', required: true, placeholder: 'kiln_…', 'aria-describedby': 'token-hint token-err',
	});
	const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
	const form = h('form', { class: 'card', novalidate: true },
		h('div', { class: 'field' },
			h('label', { for: 'token' }, 'Access token'),
			input,
			h('span', { class: 'hint', id: 'token-hint' }, 'A Kiln token: kiln_ followed by 64 hex digits.'),
			err),
		h('div', { class: 'row' }, button));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const token = input.value.trim();
		err.textContent = '';
		input.removeAttribute('aria-invalid');
		if (!token) {
			err.textContent = 'Paste a token first.';
			input.setAttribute('aria-invalid', 'true');
			input.focus();
			return;
		}
		button.disabled = true;
		try {
			const who = await api('/session', { method: 'POST', json: { token }, quiet401: true });
			input.value = '';
			signedIn(who);
			afterSignIn();
		} catch (e) {
			err.textContent = e.status === 401 ? `That token was refused: ${e.message}.` : e.message;
			input.setAttribute('aria-invalid', 'true');
			input.focus();
		} finally {
			button.disabled = false;
		}
	});
	main.append(h('div', { class: 'signin' },
		h1,
		session.message ? h('div', { class: 'alert warn', role: 'alert', id: 'signin-message' }, session.message) : null,
		form,
		h('section', { class: 'card' },
			h('h2', null, 'Where do I get a token?'),
			h('ol', { class: 'steps' },
				h('li', null, 'On first start kilnd creates an admin token and writes it to ',
					h('code', null, '<data_dir>/admin.token'), ' (mode 0600; ', h('code', null, 'make run'), ' uses ', h('code', null, './var'), ').'),
				h('li', null, 'On the server: ', h('code', null, 'cat var/admin.token'), ' — copy the line and paste it above.'),
				h('li', null, 'An admin can make a token for each person: ',
					h('code', null, `curl -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"name":"ana","role":"user"}' ${location.origin}/api/v1/tokens`)),
			),
			h('p', { class: 'muted small' }, 'The browser keeps only a session cookie (HttpOnly, SameSite=Strict) for 12 hours, never the token itself. Revoking the token ends its sessions at once.'))));
	pageTitle(h1, 'Sign in');
	input.focus();
}
