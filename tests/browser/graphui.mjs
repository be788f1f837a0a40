// Browser tests of the graph view at scale, the API docs page and the admin
// pages (issue 17), run by dashboard.mjs with its helpers.  The graph is
// the PaddleOCR-det-shaped export of graph_fixtures.py (672 nodes, 342 of
// them Constants), uploaded here through the API.
import { readFileSync, renameSync } from 'node:fs';

export async function run({ test, page, BASE, TOKEN, PPOCR, VOYAGER_BIN, shot, expect }) {
	const AUTH = { Authorization: 'Bearer ' + TOKEN };
	let id = null;
	if (PPOCR) {
		const r = await fetch(`${BASE}/api/v1/models?name=ppocr-det`, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/octet-stream' }, body: readFileSync(PPOCR) });
		if (r.status === 200 || r.status === 201) id = (await r.json()).id;
		else console.log(`# PaddleOCR-shaped model upload answered ${r.status}`);
	}
	const svgBox = () => page.locator('.canvas svg').boundingBox();
	// The drawing's bounds on screen, from the root transform and its size.
	const drawn = () => page.evaluate(() => {
		const c = document.querySelector('.canvas');
		const m = document.querySelector('.canvas svg > g').getAttribute('transform').match(/translate\(([-\d.]+),([-\d.]+)\) scale\(([\d.]+)\)/);
		const [tx, ty, k] = m.slice(1).map(Number);
		const r = c.querySelector('svg').getBoundingClientRect();
		return { x0: tx, y0: ty, x1: tx + Number(c.dataset.graphW) * k, y1: ty + Number(c.dataset.graphH) * k, w: r.width, h: r.height, k };
	});
	const inSvg = async (sel) => {
		const b = await page.locator(sel).first().boundingBox();
		const s = await svgBox();
		return b && b.x >= s.x - 1 && b.y >= s.y - 1 && b.x + b.width <= s.x + s.width + 1 && b.y + b.height <= s.y + s.height + 1;
	};

	await test('graph_of_a_paddleocr_det_export_folds_constants_and_fits_whole', async () => {
		if (!id) return { skip: 'no PaddleOCR-shaped model (python3-onnx missing?)' };
		await page.goto(`${BASE}/#/models/${id}/graph`);
		await page.locator('#graph-stats').waitFor();
		const stats = await page.locator('#graph-stats').innerText();
		if (!/672 nodes \(342 Constants folded\) · 332 boxes/.test(stats)) throw new Error('stats: ' + stats);
		await page.waitForTimeout(200);
		const d = await drawn();
		// A real fit: the whole drawing inside the canvas, the input box too.
		if (d.x0 < -1 || d.y0 < -1 || d.x1 > d.w + 1 || d.y1 > d.h + 1) throw new Error('fit leaves part out: ' + JSON.stringify(d));
		if (!(await page.locator('.canvas .minimap').isVisible())) throw new Error('no minimap');
		await shot(page, 'g1-ppocr-fitted');
		// The minimap moves the view.
		const before = await page.getAttribute('.canvas svg > g', 'transform');
		const mm = await page.locator('.canvas .minimap').boundingBox();
		await page.mouse.click(mm.x + mm.width / 2, mm.y + mm.height - 6);
		await page.waitForTimeout(100);
		if ((await page.getAttribute('.canvas svg > g', 'transform')) === before) throw new Error('a minimap click did not move the view');
		// No Constant is a box: at readable scale around the input.
		await page.goto(`${BASE}/#/models/${id}/graph?node=p2o.conv_0`);
		await page.locator('#node-details h2').waitFor();
		await page.waitForTimeout(150);
		const ops = await page.locator('.canvas svg [data-node]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
		if (!ops.length) throw new Error('no boxes drawn when zoomed in');
		if (ops.length < 5 || ops.some((o) => o.startsWith('Constant '))) throw new Error('boxes drawn: ' + ops.slice(0, 12).join(', '));
		if (!ops.includes('Input x')) throw new Error('the input box is not drawn next to the first conv: ' + ops.slice(0, 12).join(', '));
	});

	await test('graph_has_two_tab_stops_before_the_side_panel_and_arrows_walk_the_boxes', async () => {
		if (!id) return { skip: 'no PaddleOCR-shaped model' };
		await page.goto(`${BASE}/#/models/${id}/graph?node=p2o.conv_10`);
		await page.locator('#node-details h2').waitFor();
		await page.focus('#graph-search');
		let tabs = 0;
		for (; tabs < 30; tabs++) {
			await page.keyboard.press('Tab');
			if (await page.evaluate(() => !!document.activeElement.closest('aside.side'))) break;
		}
		// search → canvas → one box → zoom in/out/fit → side panel
		if (tabs + 1 > 6) throw new Error(`${tabs + 1} Tabs from the search to the side panel`);
		const tabbable = await page.locator('.canvas svg [data-node][tabindex="0"]').count();
		if (tabbable !== 1) throw new Error(`${tabbable} boxes have tabindex 0`);
		await page.locator('.canvas svg [data-node][tabindex="0"]').focus();
		const first = await page.evaluate(() => document.activeElement.dataset.node);
		await page.keyboard.press('ArrowDown');
		await page.keyboard.press('ArrowDown');
		const now = await page.evaluate(() => document.activeElement.dataset && document.activeElement.dataset.node);
		if (!now || now === first) throw new Error(`ArrowDown did not move to another box (${first} → ${now})`);
		if (!(await inSvg(`.canvas svg [data-node="${now}"]`))) throw new Error('the focused box is off screen');
		await page.keyboard.press('Enter');
		await page.locator('#node-details h2').waitFor();
		await shot(page, 'g2-ppocr-keyboard');
	});

	await test('graph_deep_link_search_and_labels_that_fit', async () => {
		if (!id) return { skip: 'no PaddleOCR-shaped model' };
		await page.goto(`${BASE}/#/models/${id}/graph?node=p2o.globalaveragepool_0`);
		// the panel of this address's node, not the one the last page left
		await page.locator('#node-details h2', { hasText: 'GlobalAveragePool' }).waitFor();
		if ((await page.locator('#node-details h2').innerText()) !== 'GlobalAveragePool') throw new Error('wrong node opened');
		await page.waitForTimeout(150);
		const sel = '.canvas svg [aria-label="GlobalAveragePool p2o.globalaveragepool_0"]';
		if (!(await inSvg(sel))) throw new Error('the linked node is not in view');
		// Every drawn label fits its box (the op name, and the second line).
		const bad = await page.locator('.canvas svg .g-node').evaluateAll((els) => els.flatMap((g) => {
			const w = Number(g.querySelector('rect').getAttribute('width'));
			return [...g.querySelectorAll('text')].filter((t) => t.getComputedTextLength() > w - 8).map((t) => `${t.textContent} (${t.getComputedTextLength().toFixed(0)} > ${w - 8})`);
		}));
		if (bad.length) throw new Error('labels overflow: ' + bad.slice(0, 5).join(', '));
		// Folded constants are listed with the node that reads them.
		await page.goto(`${BASE}/#/models/${id}/graph?node=p2o.clip_0`);
		await page.locator('#node-details h2', { hasText: 'Clip' }).waitFor();
		const ins = await page.locator('#node-details').innerText();
		if ((ins.match(/\(constant/g) || []).length !== 2) throw new Error('Clip inputs: ' + ins);
		await shot(page, 'g3-ppocr-deep-link');
		// An unknown node says so.
		await page.goto(`${BASE}/#/models/${id}/graph?node=no-such-node`);
		await page.locator('[role=alert]').filter({ hasText: 'no-such-node' }).waitFor();
		// Search, Enter: the view goes to the hit and the address names it.
		await page.fill('#graph-search', 'sigmoid_0.tmp_0');
		await page.keyboard.press('Enter');
		await page.waitForURL(/node=p2o\.Sigmoid\.0$/);
		await page.waitForTimeout(150);
		if (!(await inSvg('.canvas svg [aria-label="Sigmoid p2o.Sigmoid.0"]'))) throw new Error('the search hit is not in view');
	});

	await test('graph_picks_move_the_view_and_open_the_convert_form', async () => {
		if (!id) return { skip: 'no PaddleOCR-shaped model' };
		await page.goto(`${BASE}/#/models/${id}/graph`);
		await page.locator('#graph-stats').waitFor();
		await page.fill('#graph-search', 'p2o.conv_30');
		await page.keyboard.press('Enter');
		await page.locator('#node-details input[type=checkbox]').first().check();
		await page.fill('#graph-search', 'p2o.Sigmoid.0');
		await page.keyboard.press('Enter');
		await page.locator('#node-details input[type=checkbox]').first().check();
		const picks = await page.locator('#picked li[data-tensor]').evaluateAll((els) => els.map((e) => e.dataset.tensor));
		if (picks.length !== 2) throw new Error('picks: ' + picks);
		// "Show" on the first pick brings its producer into view.
		await page.locator('#picked li[data-tensor] button[aria-label^="Show"]').first().click();
		await page.waitForTimeout(150);
		if (!(await inSvg('.canvas svg [aria-label="Conv p2o.conv_30"]'))) throw new Error('Show did not bring the pick into view');
		await page.click('#convert-picks');
		await page.waitForURL(/#\/convert\?/);
		await page.locator('#f-outputs').waitFor();
		await page.waitForFunction(() => document.getElementById('f-outputs').value.includes('\n'));
		const got = await page.inputValue('#f-outputs');
		const mode = await page.inputValue('#f-outputs-mode');
		if (mode !== 'custom' || got.split('\n').sort().join() !== [...picks].sort().join()) throw new Error(`convert form: ${mode} ${JSON.stringify(got)}`);
		await shot(page, 'g4-convert-with-picks');
	});

	await test('docs_page_lists_every_route_with_parameters_and_curl', async () => {
		const doc = await (await fetch(BASE + '/api/v1/openapi.json')).json();
		let n = 0;
		for (const item of Object.values(doc.paths)) for (const m of ['get', 'post', 'put', 'patch', 'delete']) if (item[m]) n++;
		await page.goto(`${BASE}/#/docs`);
		await page.locator('details.op').first().waitFor();
		const ops = await page.locator('details.op').count();
		if (ops !== n) throw new Error(`${ops} operations shown, the document has ${n}`);
		const job = page.locator('details.op[data-op="jobs_create"]');
		await job.locator('summary').click();
		const text = await job.innerText();
		for (const want of ['POST', '/api/v1/jobs', 'Body', 'application/json', '202', '422', 'curl -fsS -H "Authorization: Bearer $TOKEN" -X POST']) {
			if (!text.includes(want)) throw new Error(`jobs_create lacks “${want}”: ${text.slice(0, 300)}`);
		}
		const up = page.locator('details.op[data-op="models_create"]');
		await up.locator('summary').click();
		const upText = await up.innerText();
		if (!/--data-binary @FILE/.test(upText) || !/name/.test(upText)) throw new Error('models_create: ' + upText.slice(0, 300));
		await page.fill('#docs-filter', 'tokens');
		await page.waitForFunction(() => [...document.querySelectorAll('details.op')].filter((d) => !d.hidden).length === 4);
		await page.fill('#docs-filter', '');
		await shot(page, 'd1-docs');
	});

	await test('admin_tokens_create_shows_the_secret_once_refuses_a_bad_name_and_revokes', async () => {
		await page.goto(`${BASE}/#/admin/tokens`);
		await page.locator('#tokens-table').waitFor();
		expect([{ status: 400, url: '/api/v1/tokens' }]);
		await page.fill('#tok-name', 'bad name!');
		await page.click('#tok-form button[type=submit]');
		await page.locator('#tok-name-err').filter({ hasText: 'name' }).waitFor();
		if ((await page.getAttribute('#tok-name', 'aria-invalid')) !== 'true') throw new Error('the field is not marked invalid');
		await shot(page, 'a1-token-refused');
		await page.fill('#tok-name', 'ci-bot');
		await page.click('#tok-form button[type=submit]');
		const secret = await page.locator('#tok-secret').innerText();
		if (!/^kiln_/.test(secret)) throw new Error('secret: ' + secret);
		const row = page.locator('#tokens-table tr', { hasText: 'ci-bot' });
		await row.waitFor();
		if (!(await row.innerText()).includes('never')) throw new Error('a new token shows a last use: ' + (await row.innerText()));
		// Used once, the list says when.
		const use = await fetch(BASE + '/api/v1/models', { headers: { Authorization: 'Bearer ' + secret } });
		if (use.status !== 200) throw new Error('the new token: ' + use.status);
		await page.reload();
		await page.locator('#tokens-table').waitFor();
		if ((await page.locator('#tokens-table tr', { hasText: 'ci-bot' }).innerText()).includes('never')) throw new Error('last used not shown after a use');
		await shot(page, 'a2-tokens');
		await page.locator('#tokens-table tr', { hasText: 'ci-bot' }).locator('button[data-revoke]').click();
		await page.locator('#tokens-table tr', { hasText: 'ci-bot' }).waitFor({ state: 'detached' });
		const after = await fetch(BASE + '/api/v1/models', { headers: { Authorization: 'Bearer ' + secret } });
		if (after.status !== 401) throw new Error('a revoked token still answers ' + after.status);
	});

	await test('admin_settings_and_toolchain_status_with_the_fix_command', async () => {
		await page.goto(`${BASE}/#/admin/settings`);
		await page.locator('tr[data-key="server.listen"]').waitFor();
		const listen = await page.locator('tr[data-key="server.listen"]').innerText();
		if (!/127\.0\.0\.1:\d+/.test(listen)) throw new Error('listen row: ' + listen);
		if (await page.locator('input, textarea, select, button[type=submit]').count()) throw new Error('the settings page has inputs: it is read-only');
		await shot(page, 'a3-settings');
		await page.goto(`${BASE}/#/admin/toolchains`);
		await page.locator('.tc-card').first().waitFor();
		const ready = await page.locator('.tc-card[data-toolchain="pulsar2"]').innerText();
		if (!/ready/.test(ready)) throw new Error('pulsar2: ' + ready);
		// voyager's tools go away behind kilnd's back: "Check again now"
		// shows it missing with the fix, then ready again once they are back.
		renameSync(VOYAGER_BIN, VOYAGER_BIN + '.away');
		try {
			await page.click('#tc-probe');
			await page.locator('#tc-probe:not([disabled])').waitFor();
			const missing = page.locator('.tc-card[data-toolchain="voyager"]');
			const fix = await missing.locator('code.fix').innerText();
			if (!/toolchain\.voyager|kiln\.ini|voyager/.test(fix)) throw new Error('voyager fix: ' + fix);
			await shot(page, 'a4-toolchains');
		} finally {
			renameSync(VOYAGER_BIN + '.away', VOYAGER_BIN);
		}
		await page.click('#tc-probe');
		await page.locator('#tc-probe:not([disabled])').waitFor();
		await page.locator('.tc-card[data-toolchain="voyager"] code.fix').waitFor({ state: 'detached' });
		// A user token sees no Admin link (the routes answer 403).
		const nav = await page.locator('#nav-admin').isVisible();
		if (!nav) throw new Error('an admin sees no Admin link');
	});
}
