// store: the dashboard's only shared state — who is signed in, the CSRF
// token of the session, and why a session ended.  Pages read it; api.js and
// the sign-in page change it; app.js listens and re-routes.
export const session = {
	user: null,      // {name, role, token_id, expires} when signed in
	csrf: null,      // the X-CSRF-Token for state-changing requests
	message: null,   // why the last session ended, shown on the sign-in page
};

const listeners = new Set();

export function subscribe(fn) {
	listeners.add(fn);
	return () => listeners.delete(fn);
}

function emit() {
	for (const fn of listeners) fn(session);
}

export function signedIn(who) {
	session.user = { name: who.name, role: who.role, token_id: who.token_id, expires: who.expires };
	session.csrf = who.csrf || null;
	session.message = null;
	emit();
}

export function signedOut(message = null) {
	const was = session.user !== null;
	session.user = null;
	session.csrf = null;
	session.message = message;
	if (was || message) emit();
}
