// Drive the data browser (/_/) and the home page (/) in one headless Chromium, offline, and report what happened:
//
//   node ui-browser.mjs --chromium /usr/bin/chromium --config JSON
//
// JSON: {plain, auth, users, axe, screenshots, timeout}: `plain` is a server with 100k `posts` under
// --schema, `auth` one under --auth (users = {alice, admin}: {email, password}), `axe` the path of
// axe-core's axe.min.js, `screenshots` a folder for docs/ui/*.png (or null), `timeout` seconds.
// Prints one JSON line: {checks, axe, network, errors, screenshots, steps}; test_data_browser.py judges it.
//
// Every step is what a user does (clicks on the page's own buttons, typing into its fields, keys);
// writes "from outside" are made from here over REST, as another client would. As in docs-browser.mjs,
// the pages run in a browser context whose proxy is a trap (recording and refusing everything but
// loopback, proven in the way by a probe), no host name but 127.0.0.1 resolves, and DevTools lists
// every request the pages make.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pipe } from './cdp-pipe.mjs';

const VIEWPORT = { width: 1000, height: 700 };
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function parseArgs(argv) {
    const options = { chromium: '/usr/bin/chromium', config: null };
    for (let index = 0; index < argv.length; index += 2) {
        if (argv[index] === '--chromium') options.chromium = argv[index + 1];
        else if (argv[index] === '--config') options.config = JSON.parse(argv[index + 1]);
        else throw new Error(`unknown argument ${argv[index]}`);
    }
    if (!options.config) throw new Error('usage: node ui-browser.mjs --config JSON [--chromium PATH]');
    return options;
}

/** An HTTP proxy on 127.0.0.1 that lets nothing through and records every attempt. */
async function startTrap() {
    const trapped = [];
    const server = createServer((request, response) => {
        trapped.push(`${request.method} ${request.url}`);
        response.writeHead(403).end('blocked by the test');
    });
    server.on('connect', (request, socket) => {
        trapped.push(`CONNECT ${request.url}`);
        socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
    return { server, trapped, port: server.address().port };
}

function chromiumFlags(trapPort, userDataDir) {
    return [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
        '--no-first-run', '--no-default-browser-check', '--disable-default-apps', '--disable-extensions',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-domain-reliability', '--disable-client-side-phishing-detection', '--disable-quic',
        '--disable-breakpad', '--metrics-recording-only', '--no-service-autorun', '--password-store=basic',
        '--disable-features=OptimizationHints,OptimizationGuideModelDownloading,NetworkTimeServiceQuerying,'
            + 'MediaRouter,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater',
        `--proxy-server=http://127.0.0.1:${trapPort}`,
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
        `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
        '--remote-debugging-pipe', `--user-data-dir=${userDataDir}`, 'about:blank',
    ];
}

const RECORD_VIOLATIONS = `
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', event => {
        window.__violations.push(event.effectiveDirective + ' blocked ' + (event.blockedURI || 'inline'));
    });
`;

/** One tab in a trapped browser context, with what the report needs to know about it. */
class Tab {
    constructor(pipe, report, deadline) {
        this.pipe = pipe;
        this.report = report;
        this.deadline = deadline;
    }

    async open(trap) {
        const { browserContextId } = await this.pipe.send('Target.createBrowserContext', {
            disposeOnDetach: true, proxyServer: `http://127.0.0.1:${trap.port}`, proxyBypassList: '127.0.0.1',
        });
        this.contextId = browserContextId;
        const { targetId } = await this.pipe.send('Target.createTarget', { url: 'about:blank', browserContextId });
        this.targetId = targetId;
        ({ sessionId: this.session } = await this.pipe.send('Target.attachToTarget', { targetId, flatten: true }));
        // Prove the trap is in the way: an outside request from this context must reach it.
        await this.evaluate(`fetch('http://probe.jsonserve.invalid/', {mode: 'no-cors'}).then(() => 'answered', e => String(e))`);
        for (let i = 0; i < 100 && trap.trapped.length === 0; i += 1) await sleep(20);
        this.report.network.probe.push(...trap.trapped.splice(0));
        this.pipe.listeners.add(message => this.listen(message));
        await Promise.all([
            this.send('Network.enable'), this.send('Runtime.enable'), this.send('Log.enable'), this.send('Page.enable'),
            this.send('Emulation.setDeviceMetricsOverride', { ...VIEWPORT, deviceScaleFactor: 1, mobile: false }),
            this.send('Page.addScriptToEvaluateOnNewDocument', { source: RECORD_VIOLATIONS }),
        ]);
    }

    send(method, params = {}) {
        return this.pipe.send(method, params, this.session);
    }

    listen({ method, params, sessionId }) {
        if (sessionId !== this.session) return;
        const network = this.report.network;
        if (method === 'Network.requestWillBeSent') network.requests.push(`${params.request.method} ${params.request.url}`);
        else if (method === 'Network.webSocketCreated') network.requests.push(`WEBSOCKET ${params.url}`);
        else if (method === 'Network.webSocketFrameSent') network.wsSent.push(params.response.payloadData);
        else if (method === 'Network.responseReceived' && params.response.status >= 400) {
            network.errors.push(`${params.response.status} ${params.response.url}`);
        } else if (method === 'Runtime.exceptionThrown') {
            this.report.errors.push(params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text);
        } else if (method === 'Runtime.consoleAPICalled' && params.type === 'error') {
            this.report.errors.push(`console.error: ${params.args.map(arg => arg.value ?? arg.description).join(' ')}`);
        }
    }

    async evaluate(expression) {
        const { result, exceptionDetails } = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
        if (exceptionDetails) throw new Error(`${expression.slice(0, 200)}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
        return result.value;
    }

    async waitFor(expression, what, ms = 10_000) {
        const until = Math.min(this.deadline, Date.now() + ms);
        let last = null;
        for (;;) {
            try {
                const value = await this.evaluate(expression);
                if (value) return value;
            } catch (error) {
                last = error.message;
            }
            if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
            await sleep(20);
        }
    }

    async goto(url, ready, what) {
        await this.send('Page.navigate', { url });
        await this.waitFor(ready, what);
    }

    /** A left click at the centre of the first element matching `selector` (scrolled into view). */
    async click(selector) {
        const point = await this.waitFor(`(() => {
            const element = document.querySelector(${JSON.stringify(selector)});
            if (!element || element.disabled) return null;
            element.scrollIntoView({ block: 'center', behavior: 'instant' });
            const box = element.getBoundingClientRect();
            if (!box.width) return null;
            const x = box.left + box.width / 2, y = box.top + box.height / 2;
            const hit = document.elementFromPoint(x, y);
            return hit && (hit === element || element.contains(hit)) ? { x, y } : null;
        })()`, `a clickable ${selector}`);
        for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
            await this.send('Input.dispatchMouseEvent', { type, x: point.x, y: point.y, button: 'left', buttons: type === 'mousePressed' ? 1 : 0, clickCount: 1 });
        }
    }

    /** Click into a field, select what it holds and type `text` over it. */
    async type(selector, text) {
        await this.click(selector);
        await this.key('a', 'KeyA', 65, 2);
        await this.key('Backspace', 'Backspace', 8);
        if (text) await this.send('Input.insertText', { text });
    }

    async key(key, code, keyCode, modifiers = 0) {
        const text = key === 'Enter' ? '\r' : undefined;  // Enter types a character: it submits a form
        for (const type of [text ? 'keyDown' : 'rawKeyDown', 'keyUp']) {
            await this.send('Input.dispatchKeyEvent', { type, key, code, windowsVirtualKeyCode: keyCode, modifiers, text: type === 'keyUp' ? undefined : text });
        }
    }

    async select(selector, value) {
        await this.evaluate(`(() => { const s = document.querySelector(${JSON.stringify(selector)});
            s.value = ${JSON.stringify(value)}; s.dispatchEvent(new Event('change', { bubbles: true })); })()`);
    }

    async axe(source, name) {
        await this.evaluate(`window.axe ? true : (new Function(${JSON.stringify(source)}))() || true`);
        const found = await this.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then(result =>
            result.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) })))`);
        this.report.axe[name] = found;
    }

    /** `name`-light.png and `name`-dark.png (the system theme emulated), when screenshots are asked for. */
    async shoot(dir, name) {
        if (!dir) return;
        for (const scheme of ['light', 'dark']) {
            await this.send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: scheme }] });
            await sleep(60);
            const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
            const file = join(dir, `${name}-${scheme}.png`);
            await writeFile(file, Buffer.from(data, 'base64'));
            this.report.screenshots.push(file);
        }
        await this.send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'light' }] });
    }

    async close() {
        this.report.violations.push(...(await this.evaluate('window.__violations ?? []').catch(() => [])));
        await this.pipe.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {});
        await this.pipe.send('Target.disposeBrowserContext', { browserContextId: this.contextId }).catch(() => {});
    }
}

async function rest(method, url, body, token) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
}

const ROWS = `[...document.querySelectorAll('#records tbody tr[data-id]')]`;
const rowIds = `${ROWS}.map(row => row.dataset.id)`;
const column = name => `(() => { const names = [...document.querySelectorAll('#records thead button.sort')].map(b => b.dataset.column);
    const index = names.indexOf(${JSON.stringify(name)});
    return ${ROWS}.map(row => row.children[index]?.textContent); })()`;
const shownQuery = `(document.getElementById('shown-query')?.textContent ?? '')`;
const idle = `(!document.getElementById('records')?.hasAttribute('aria-busy'))`;
// The view's subscription is live once the server said `subscribed` (its seq is then known).
const subscribed = `(jsonserveBrowser.live.subscriptions.get('view')?.since ?? null) !== null`;

/** Time a page change made by clicking `selector`, in the page (performance.now), until the new rows are shown. */
async function timedPage(tab, selector) {
    await tab.evaluate(`window.__pageTimer = new Promise(resolve => {
        const tbody = document.querySelector('#records tbody');
        const before = tbody.dataset.page;
        const started = performance.now();
        const observer = new MutationObserver(() => {
            const table = document.getElementById('records');
            if (table.querySelector('tbody').dataset.page !== before && !table.hasAttribute('aria-busy')) {
                observer.disconnect();
                resolve(performance.now() - started);
            }
        });
        observer.observe(document.getElementById('records'), { subtree: true, childList: true, attributes: true });
        document.querySelector(${JSON.stringify(selector)}).click();
    })`);
    return tab.evaluate('window.__pageTimer');
}

async function plainScenario(tab, config, checks, axeSource) {
    const base = config.plain;
    const shots = config.screenshots;
    // The home page.
    await tab.goto(`${base}/`, `document.querySelector('h1') !== null`, 'the home page');
    checks.home = await tab.evaluate(`({ text: document.body.innerText,
        links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')) })`);
    await tab.axe(axeSource, 'home');
    await tab.shoot(shots, 'home');

    // The table.
    await tab.goto(`${base}/_/#/posts`, `${ROWS}.length > 0`, 'the posts table');
    await tab.waitFor(`document.getElementById('live').dataset.state === 'live'`, 'the live feed');
    checks.table = await tab.evaluate(`({ ids: ${rowIds}, query: ${shownQuery},
        columns: [...document.querySelectorAll('#records thead button.sort')].map(b => b.dataset.column),
        sidebar: [...document.querySelectorAll('#resource-list a')].map(a => a.textContent),
        range: document.getElementById('range').textContent })`);
    await tab.axe(axeSource, 'table');
    await tab.shoot(shots, 'table');

    // Keyboard: ArrowDown from the first row's link focuses the second's.
    await tab.evaluate(`document.querySelector('#records tbody th a').focus()`);
    await tab.key('ArrowDown', 'ArrowDown', 40);
    checks.keyboard = await tab.evaluate(`document.activeElement?.textContent`);

    // Paging through 100k records: each page change timed in the page.
    const timings = [];
    for (let i = 0; i < 4; i += 1) timings.push(await timedPage(tab, '.pager button[aria-label="Next page"]'));
    timings.push(await timedPage(tab, '.pager button[aria-label="Last page"]'));
    checks.lastPage = await tab.evaluate(`({ ids: ${rowIds}, range: document.getElementById('range').textContent, query: ${shownQuery} })`);
    timings.push(await timedPage(tab, '.pager button[aria-label="First page"]'));

    // Sort by views: ascending, then descending (clicks on the column header).
    await tab.click('#records thead button.sort[data-column="views"]');
    await tab.waitFor(`${shownQuery}.includes('_sort=views') && !${shownQuery}.includes('_order') && ${idle}`, 'the ascending sort');
    checks.sortAsc = await tab.evaluate(`({ views: ${column('views')}, query: ${shownQuery}, sort: document.querySelector('th[aria-sort="ascending"]')?.textContent })`);
    await tab.click('#records thead button.sort[data-column="views"]');
    await tab.waitFor(`${shownQuery}.includes('_order=desc') && ${idle}`, 'the descending sort');
    checks.sortDesc = await tab.evaluate(`({ views: ${column('views')}, query: ${shownQuery} })`);
    for (let i = 0; i < 2; i += 1) timings.push(await timedPage(tab, '.pager button[aria-label="Next page"]'));
    checks.pageTimings = timings;

    // Filter: views at least 9990 and published, with the builder.
    await tab.click('.filter-actions button');  // Add filter
    await tab.select('.filter-row:nth-child(1) select[name=field]', 'views');
    await tab.select('.filter-row:nth-child(1) select[name=op]', 'gte');
    await tab.type('.filter-row:nth-child(1) input[name=value]', '9990');
    await tab.click('.filter-actions button');
    await tab.select('.filter-row:nth-child(2) select[name=field]', 'published');
    await tab.type('.filter-row:nth-child(2) input[name=value]', 'true');
    await tab.key('Enter', 'Enter', 13);
    await tab.waitFor(`${shownQuery}.includes('views_gte=9990') && ${idle}`, 'the filtered rows');
    checks.filter = await tab.evaluate(`({ views: ${column('views')}, published: ${column('published')}, query: ${shownQuery},
        curl: document.getElementById('shown-curl').textContent, fetch: document.getElementById('shown-fetch').textContent,
        range: document.getElementById('range').textContent, address: location.hash })`);
    await tab.shoot(shots, 'filter');

    // Edit a record: the form, saved with PATCH + If-Match, visible over REST.
    await tab.goto(`${base}/_/#/posts/5`, `document.querySelector('.field[data-field=title] input')`, 'the record form');
    await tab.axe(axeSource, 'editor');
    await tab.shoot(shots, 'editor');
    await tab.type('.field[data-field=title] input', 'Edited in the browser');
    await tab.click('#save');
    await tab.waitFor(`document.getElementById('editor-status').textContent.startsWith('Saved')`, 'the save');
    checks.edit = (await rest('GET', `${base}/posts/5`)).body;

    // 422 on the field (the schema says views >= 0).
    await tab.type('.field[data-field=views] input', '-5');
    await tab.click('#save');
    await tab.waitFor(`!document.querySelector('.field[data-field=views] .field-error').hidden`, 'the field error');
    checks.invalid = await tab.evaluate(`({ message: document.querySelector('.field[data-field=views] .field-error').textContent,
        ariaInvalid: document.querySelector('.field[data-field=views] input').getAttribute('aria-invalid'),
        problem: document.getElementById('editor-problem').innerText })`);
    checks.invalidStored = (await rest('GET', `${base}/posts/5`)).body;
    await tab.shoot(shots, 'invalid');

    // A conflicting edit: someone else saves between our read and our save.
    await tab.goto(`${base}/_/#/posts/6`, `document.querySelector('h1')?.textContent === 'posts 6' && document.querySelector('.field[data-field=title] input') && ${subscribed}`, 'record 6');
    await tab.type('.field[data-field=title] input', 'Mine, from the browser');
    checks.outsidePatch = (await rest('PATCH', `${base}/posts/6`, { title: 'Theirs, over REST' })).status;
    await tab.waitFor(`document.getElementById('editor-status').textContent.includes('changed on the server')`, 'the warning');
    await tab.click('#save');
    await tab.waitFor(`document.getElementById('conflict')`, 'the conflict');
    checks.conflict = await tab.evaluate(`({ mine: document.querySelector('#conflict tr[data-field=title] .mine').textContent,
        theirs: document.querySelector('#conflict tr[data-field=title] .theirs').textContent,
        differs: document.querySelector('#conflict tr[data-field=title]').classList.contains('differs'),
        text: document.getElementById('conflict').innerText })`);
    await tab.shoot(shots, 'conflict');
    await tab.click('#keep-mine');
    await tab.waitFor(`document.getElementById('editor-status').textContent.startsWith('Saved')`, 'saving mine over theirs');
    checks.conflictResolved = (await rest('GET', `${base}/posts/6`)).body;

    // Create, then delete with a confirmation.
    await tab.goto(`${base}/_/#/posts/new`, `document.querySelector('h1')?.textContent === 'New posts record'
        && document.querySelector('.field[data-field=title] input')`, 'the new-record form');
    await tab.type('.field[data-field=title] input', 'Created in the browser');
    await tab.type('.field[data-field=views] input', '3');
    await tab.click('.field[data-field=published] input');
    await tab.click('#save');
    await tab.waitFor(`/^#\\/posts\\/\\d+$/.test(location.hash) && document.getElementById('delete')`, 'the created record');
    const createdId = await tab.evaluate(`location.hash.split('/').pop()`);
    checks.created = (await rest('GET', `${base}/posts/${createdId}`)).body;
    await tab.click('#delete');
    await tab.waitFor(`document.getElementById('delete-dialog').open`, 'the confirmation');
    checks.deleteDialog = await tab.evaluate(`document.getElementById('delete-dialog').innerText`);
    await tab.click('#confirm-delete');
    await tab.waitFor(`location.hash === '#/posts' && ${ROWS}.length > 0`, 'back at the table');
    checks.deleted = (await rest('GET', `${base}/posts/${createdId}`)).status;

    // Live: writes from outside appear, change and go in the open table (newest first).
    await tab.goto(`${base}/_/#/posts?_sort=id&_order=desc`,
        `${shownQuery}.includes('_sort=id&_order=desc') && ${idle} && ${ROWS}.length > 0 && ${subscribed}`, 'the newest posts');
    const live = {};
    let started = Date.now();
    const made = (await rest('POST', `${base}/posts`, { title: 'Live from outside', views: 1, published: false })).body;
    await tab.waitFor(`${rowIds}.includes(${JSON.stringify(String(made.id))})`, 'the created row', 5000);
    live.createMs = Date.now() - started;
    started = Date.now();
    await rest('PATCH', `${base}/posts/${made.id}`, { title: 'Changed from outside' });
    await tab.waitFor(`${column('title')}.includes('Changed from outside')`, 'the changed row', 5000);
    live.updateMs = Date.now() - started;
    started = Date.now();
    await rest('DELETE', `${base}/posts/${made.id}`);
    await tab.waitFor(`!${rowIds}.includes(${JSON.stringify(String(made.id))})`, 'the row gone', 5000);
    live.deleteMs = Date.now() - started;

    // A dropped connection: the badge says so, and a write made meanwhile arrives on resume (since).
    const connects = await tab.evaluate('jsonserveBrowser.live.connects');
    await tab.evaluate('jsonserveBrowser.live.socket.close()');
    live.stateWhileDown = await tab.waitFor(`document.getElementById('live').dataset.state !== 'live'
        && document.getElementById('live').innerText`, 'the reconnecting badge', 2000);
    const during = (await rest('POST', `${base}/posts`, { title: 'Written while disconnected', views: 2, published: true })).body;
    await tab.waitFor(`${rowIds}.includes(${JSON.stringify(String(during.id))})`, 'the row written while disconnected', 8000);
    live.stateAfter = await tab.evaluate(`document.getElementById('live').dataset.state`);
    live.reconnected = (await tab.evaluate('jsonserveBrowser.live.connects')) - connects;
    checks.live = live;
}

async function authScenario(tab, config, checks, axeSource) {
    const base = config.auth;
    const sidebar = `[...document.querySelectorAll('#resource-list a .name')].map(a => a.textContent)`;
    await tab.goto(`${base}/_/`, `document.getElementById('sign-in') && document.body.dataset.user === ''`, 'the anonymous browser');
    checks.anonymous = await tab.evaluate(sidebar);
    const signIn = async user => {
        await tab.goto(`${base}/_/#/login`, `document.getElementById('login-form')`, 'the login form');
        await tab.type('#login-form input[name=email]', user.email);
        await tab.type('#login-form input[name=password]', user.password);
        await tab.key('Enter', 'Enter', 13);
        await tab.waitFor(`document.getElementById('sign-out') && document.body.dataset.user && location.hash === '#/'`,
            `signed in as ${user.email}`);
    };
    await tab.goto(`${base}/_/#/login`, `document.getElementById('login-form')`, 'the login form');
    await tab.axe(axeSource, 'login');
    await tab.shoot(config.screenshots, 'login');
    await tab.type('#login-form input[name=email]', config.users.alice.email);
    await tab.type('#login-form input[name=password]', 'not the password');
    await tab.key('Enter', 'Enter', 13);
    checks.badLogin = await tab.waitFor(`document.querySelector('.problem')?.innerText`, 'the refused login');
    await signIn(config.users.alice);
    checks.alice = { sidebar: await tab.evaluate(sidebar) };
    await tab.goto(`${base}/_/#/notes`, `${ROWS}.length > 0`, "alice's notes");
    checks.alice.notes = await tab.evaluate(column('text'));
    checks.alice.account = await tab.evaluate(`document.getElementById('account').innerText`);
    await tab.goto(`${base}/_/#/secrets`, `document.querySelector('.problem')`, 'secrets refused');
    checks.alice.secrets = await tab.evaluate(`document.querySelector('main').innerText`);
    await tab.click('#sign-out');
    await tab.waitFor(`document.getElementById('sign-in') && document.body.dataset.user === ''`, 'signed out');
    checks.afterSignOut = await tab.evaluate(sidebar);
    await signIn(config.users.admin);
    checks.admin = { sidebar: await tab.evaluate(sidebar) };
    await tab.goto(`${base}/_/#/notes`, `${ROWS}.length > 0`, 'every note');
    checks.admin.notes = await tab.evaluate(column('text'));
}

async function main() {
    const { chromium: chromiumPath, config } = parseArgs(process.argv.slice(2));
    const deadline = Date.now() + (config.timeout ?? 50) * 1000;
    const axeSource = await readFile(config.axe, 'utf8');
    const report = {
        checks: {}, axe: {}, errors: [], violations: [], screenshots: [], step: null,
        network: { probe: [], requests: [], wsSent: [], errors: [], trapped: [], background: [] },
    };
    const workDir = await mkdtemp(join(tmpdir(), 'jsonserve-ui-browser-'));
    const background = await startTrap();
    const trap = await startTrap();
    const chromium = spawn(chromiumPath, chromiumFlags(background.port, join(workDir, 'profile')), {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true,
    });
    chromium.stderr.resume();
    const pipe = new Pipe(chromium);
    try {
        for (const [name, scenario] of [['plain', plainScenario], ['auth', authScenario]]) {
            const tab = new Tab(pipe, report, deadline);
            report.step = name;
            await tab.open(trap);
            try {
                await scenario(tab, config, report.checks, axeSource);
            } catch (error) {
                report.page = await tab.evaluate(`({ url: location.href, text: document.body.innerText.slice(0, 3000) })`).catch(() => null);
                throw error;
            } finally {
                await tab.close();
            }
        }
        report.step = null;
    } catch (error) {
        report.failure = `${report.step}: ${error.message}`;
    } finally {
        report.network.trapped = trap.trapped;
        report.network.background = background.trapped;
        await pipe.send('Browser.close').catch(() => {});
        await Promise.race([new Promise(resolve => chromium.once('exit', resolve)), sleep(3000)]);
        try { process.kill(-chromium.pid, 'SIGKILL'); } catch { /* gone */ }
        trap.server.close();
        background.server.close();
        await rm(workDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }
    console.log(JSON.stringify(report));
}

main().then(() => process.exit(0), error => {
    console.error(`ui-browser: ${error.stack ?? error}`);
    process.exit(1);
});
