// Load pages in headless Chromium with the outside network blocked, and report what they did:
//
//   node docs-browser.mjs --chromium /usr/bin/chromium --out DIR --timeout 45 --pages JSON
//
// JSON is a list of {name, url, ready, failed, collect}: the page at url is ready once the
// JavaScript expression `ready` is true (or has failed once `failed` is), then once the network
// is quiet `collect` (an expression too) is evaluated in it and a screenshot is written to
// DIR/<name>.png; --timeout is per page. Prints one JSON line: per page {name, ready, failed,
// text, collected, probe, requests, outside, trapped, failedLoads, responses, violations, wsSent,
// exceptions, console, screenshot, seconds, steps, stepError}, and `background`, what the browser
// itself tried to reach (update checks and the like; blocked as well, but not the page's doing).
//
// A page may also have `steps`, run once it is ready and quiet, before `collect`, as a user would:
//   {click: CSS, text?: exact text, what}  a real mouse click (DevTools Input events) at the centre of
//                                         the first match, once it is shown, enabled and not covered
//   {type: CSS, text, what}                click into the field, then type `text`
//   {clear: CSS, what}                     empty each matching field that has a value (click, Ctrl+A, Backspace)
//   {wait: EXPRESSION, what}               wait until the expression is true
//   {read: EXPRESSION, what}               record the expression's value in the step's `value`
//   {reload: true, what}                   reload the page and wait until `ready` again
//   {select: CSS, value, what}             choose the option `value` of a <select> (focus, value, input and change
//                                         events: a native select's popup cannot be clicked in headless Chromium)
//   {handoff: NAME, what}                  hand over to the caller, who acts from outside the browser (a REST write,
//                                         a message from another client): prints the line {"handoff": NAME} and
//                                         waits for one line on stdin (its JSON, if any, is the step's `value`)
// Each waits at most until the page's deadline. `steps` lists {what, ok, ms, value}; the first step
// that fails stops the rest and is told in `stepError`.
//
// Outside requests are blocked, and each block is also a detector:
// - each page runs in a browser context of its own whose proxy is a trap on 127.0.0.1 that
//   records every request and answers 403 (CONNECT tunnels included): `trapped` is everything
//   the page (or a worker of it) sent anywhere but loopback, which Chromium sends direct;
// - the browser-wide --proxy-server is another trap, for the browser's own background requests;
// - --host-resolver-rules maps every host name to NOTFOUND except 127.0.0.1, for anything that
//   would bypass the proxies;
// and DevTools reports every request the page and its workers make (`requests`, `outside`; WebSockets
// as `WEBSOCKET ws://...`, the frames the page sends in `wsSent`).
// Dependency-free (Node's standard library); Chromium is Debian's (ensure-chromium.sh).

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Pipe } from './cdp-pipe.mjs';

const VIEWPORT = { width: 1280, height: 1000 };
const QUIET_MS = 500;
const PROBES = ['http://probe.jsonserve.invalid/', 'https://probe.jsonserve.invalid/'];

function parseArgs(argv) {
    const options = { chromium: '/usr/bin/chromium', out: '', timeout: 45, pages: [] };
    for (let index = 0; index < argv.length; index += 1) {
        const arg = argv[index];
        const value = argv[(index += 1)];
        if (arg === '--chromium') options.chromium = value;
        else if (arg === '--out') options.out = value;
        else if (arg === '--timeout') options.timeout = Number(value);
        else if (arg === '--pages') options.pages = JSON.parse(value);
        else throw new Error(`unknown argument ${arg}`);
    }
    if (!options.out || !(options.timeout > 0) || options.pages.length === 0) {
        throw new Error('usage: node docs-browser.mjs --out DIR --pages JSON [--chromium PATH] [--timeout SECONDS]');
    }
    return options;
}

/** An HTTP proxy on 127.0.0.1 that lets nothing through and records every attempt. */
async function startTrap() {
    const trapped = [];
    const server = createServer((request, response) => {
        trapped.push(`${request.method} ${request.url}`);
        response.writeHead(403, { 'Content-Type': 'text/plain' }).end('blocked by the test');
    });
    server.on('connect', (request, socket) => {
        trapped.push(`CONNECT ${request.url}`);
        socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    server.on('upgrade', (request, socket) => {
        trapped.push(`UPGRADE ${request.url}`);
        socket.destroy();
    });
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
    return { server, trapped, port: server.address().port };
}

/**
 * The flags that keep Chromium off the network: what is not loopback goes to the background trap
 * (pages have a trap of their own, set on their browser context), and no host name but 127.0.0.1
 * resolves. The rest turns off what a fresh profile would fetch by itself.
 */
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
        '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
        `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
        '--remote-debugging-pipe', `--user-data-dir=${userDataDir}`, 'about:blank',
    ];
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/** Records what one page (and the workers it starts) does on the network and in its console. */
function watch(pipe, rootSession, origin, record) {
    const sessions = new Set([rootSession]);
    const inflight = new Set();
    const urls = new Map();
    const state = { lastActivity: Date.now(), inflight };
    const listener = ({ method, params, sessionId }) => {
        if (!sessions.has(sessionId)) return;
        const key = `${sessionId}/${params?.requestId}`;
        if (method === 'Target.attachedToTarget') {
            const child = params.sessionId;
            sessions.add(child);
            record.targets.push(`${params.targetInfo.type} ${params.targetInfo.url}`);
            Promise.all([
                pipe.send('Network.enable', {}, child),
                pipe.send('Runtime.enable', {}, child),
            ]).catch(() => {}).finally(() => pipe.send('Runtime.runIfWaitingForDebugger', {}, child).catch(() => {}));
        } else if (method === 'Network.requestWillBeSent') {
            const url = params.request.url;
            record.requests.push(`${params.request.method} ${url}`);
            if (!isLocal(url, origin)) record.outside.push(`${params.request.method} ${url}`);
            if (!/^(data|blob):/.test(url)) inflight.add(key);
            urls.set(key, url);
            state.lastActivity = Date.now();
        } else if (method === 'Network.webSocketCreated') {
            record.requests.push(`WEBSOCKET ${params.url}`);
            if (!isLocal(params.url, origin)) record.outside.push(`WEBSOCKET ${params.url}`);
        } else if (method === 'Network.webSocketFrameSent') {
            record.wsSent.push(params.response.payloadData);
        } else if (method === 'Network.responseReceived') {
            record.responses.push({ url: params.response.url, status: params.response.status, type: params.response.mimeType });
        } else if (method === 'Network.loadingFinished' || method === 'Network.loadingFailed') {
            if (method === 'Network.loadingFailed') {
                const reason = params.blockedReason ? ` (${params.blockedReason})` : '';
                record.failedLoads.push(`${params.errorText}${reason} ${urls.get(key) ?? key}`);
            }
            inflight.delete(key);
            state.lastActivity = Date.now();
        } else if (method === 'Runtime.exceptionThrown') {
            const details = params.exceptionDetails;
            record.exceptions.push(details?.exception?.description ?? details?.text ?? 'exception');
        } else if (method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(params.type)) {
            record.console.push(`console.${params.type}: ${params.args.map(arg => arg.value ?? arg.description).join(' ')}`);
        } else if (method === 'Log.entryAdded' && ['error', 'warning'].includes(params.entry.level)) {
            record.console.push(`log.${params.entry.source}.${params.entry.level}: ${params.entry.text} ${params.entry.url ?? ''}`.trim());
        }
    };
    pipe.listeners.add(listener);
    return { state, stop: () => pipe.listeners.delete(listener) };
}

/** Loopback URLs of the server under test, and URLs that never touch a network. */
function isLocal(url, origin) {
    if (/^(data|blob|about):/.test(url)) return true;
    const socket = origin.replace(/^http/, 'ws');  // the page's own WebSocket endpoints
    return [origin, socket].some(allowed => url === allowed || url.startsWith(`${allowed}/`));
}

// Runs in the page before its own scripts (DevTools-injected, so not subject to the page's CSP).
const RECORD_VIOLATIONS = `
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', event => {
        window.__violations.push(event.effectiveDirective + ' blocked ' + (event.blockedURI || 'inline')
            + (event.sourceFile ? ' at ' + event.sourceFile + ':' + event.lineNumber : ''));
    });
`;

/** A new tab in a browser context, attached over the pipe, with `evaluate` for expressions. */
async function openTab(pipe, browserContextId) {
    const { targetId } = await pipe.send('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await pipe.send('Target.attachToTarget', { targetId, flatten: true });
    const evaluate = async expression => {
        const { result, exceptionDetails } = await pipe.send(
            'Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId);
        if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
        return result.value;
    };
    return { targetId, sessionId, evaluate, close: () => pipe.send('Target.closeTarget', { targetId }).catch(() => {}) };
}

/**
 * Proves that the context's trap is in the way: from a blank tab of that context, an http and an
 * https request to an outside host must both reach it. Returns what it recorded, then empties it.
 */
async function probe(pipe, browserContextId, trap, deadline) {
    const tab = await openTab(pipe, browserContextId);
    try {
        await tab.evaluate(`Promise.all(${JSON.stringify(PROBES)}.map(url =>
            fetch(url, { mode: 'no-cors', cache: 'no-store' }).then(() => 'answered', error => String(error))))`);
        while (trap.trapped.length < PROBES.length && Date.now() < deadline) await sleep(20);
    } finally {
        await tab.close();
    }
    return trap.trapped.splice(0);
}

/** Waits until `expression` is true in the page (polling), or throws at the deadline. */
async function waitUntil(tab, expression, deadline) {
    let last = null;
    for (;;) {
        try {
            if (await tab.evaluate(`Boolean(${expression})`)) return;
        } catch (error) {
            last = error.message;
        }
        if (Date.now() > deadline) throw new Error(`still not true: ${expression}${last ? ` (last error: ${last})` : ''}`);
        await sleep(50);
    }
}

/**
 * Where a user would click `selector` (the first element, or the first whose text is `text`), once they
 * can: shown, enabled, not covered, and still (the same place twice in a row: pages animate and
 * scroll). The element is marked, and a listener notes whether the next click lands in it.
 */
async function clickablePoint(tab, selector, text, deadline, { filled = false } = {}) {
    const expression = `(() => {
        const wanted = ${JSON.stringify(text ?? null)};
        const element = [...document.querySelectorAll(${JSON.stringify(selector)})]
            .find(candidate => (wanted === null || candidate.textContent.trim() === wanted)
                && (!${filled} || candidate.value !== ''));
        if (!element) return { state: 'no element matches' };
        element.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
        const box = element.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) return { state: 'the element is not shown' };
        if (element.disabled) return { state: 'the element is disabled' };
        const x = Math.round(box.left + box.width / 2);
        const y = Math.round(box.top + box.height / 2);
        const hit = document.elementFromPoint(x, y);
        if (!hit || !(hit === element || element.contains(hit))) {
            return { state: 'the element is covered by ' + (hit ? hit.tagName + '.' + hit.className : 'nothing') };
        }
        document.querySelectorAll('[data-docs-browser-target]').forEach(old => old.removeAttribute('data-docs-browser-target'));
        element.setAttribute('data-docs-browser-target', '');
        window.__docsBrowserClick = 'no click';
        document.addEventListener('click', event => {
            window.__docsBrowserClick = element.contains(event.target) ? 'on target'
                : 'landed on ' + event.target.tagName + '.' + event.target.className;
        }, { capture: true, once: true });
        return { state: 'ready', x, y };
    })()`;
    let found = { state: 'not looked for' };
    let previous = null;
    while (Date.now() <= deadline) {
        found = await tab.evaluate(expression);
        if (found.state === 'ready' && previous?.x === found.x && previous?.y === found.y) return found;
        previous = found.state === 'ready' ? found : null;
        await sleep(50);
    }
    throw new Error(`cannot click ${selector}${text ? ` "${text}"` : ''}: ${found.state}`);
}

/** A left click at `point`, as a mouse makes it; throws unless it landed on the element `clickablePoint` marked. */
async function click(pipe, tab, point) {
    const { x, y } = point;
    await pipe.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y }, tab.sessionId);
    await pipe.send('Input.dispatchMouseEvent', { type: 'mousePressed', x, y, button: 'left', buttons: 1, clickCount: 1 }, tab.sessionId);
    await pipe.send('Input.dispatchMouseEvent', { type: 'mouseReleased', x, y, button: 'left', buttons: 0, clickCount: 1 }, tab.sessionId);
    const landed = await tab.evaluate('window.__docsBrowserClick');
    if (landed !== 'on target') throw new Error(`the click at ${x},${y} missed its element: ${landed}`);
}

/** Presses `key` (with `modifiers`: 2 is Ctrl) as a keyboard does. */
async function press(pipe, tab, key, code, keyCode, modifiers = 0) {
    for (const type of ['rawKeyDown', 'keyUp']) {
        await pipe.send('Input.dispatchKeyEvent', { type, key, code, windowsVirtualKeyCode: keyCode, modifiers }, tab.sessionId);
    }
}

/** Empties every field matching `selector` that holds a value: click into it, Ctrl+A, Backspace. */
async function clearFields(pipe, tab, selector, deadline) {
    const remaining = `[...document.querySelectorAll(${JSON.stringify(selector)})].filter(field => field.value !== '').length`;
    while (await tab.evaluate(remaining) > 0) {
        const before = await tab.evaluate(remaining);
        await click(pipe, tab, await clickablePoint(tab, selector, null, deadline, { filled: true }));
        await press(pipe, tab, 'a', 'KeyA', 65, 2);
        await press(pipe, tab, 'Backspace', 'Backspace', 8);
        if (await tab.evaluate(remaining) >= before) throw new Error(`a field of ${selector} kept its value after Ctrl+A, Backspace`);
    }
}

/** Chooses the option `value` of the <select> `selector`, as the keyboard would (the events a user's choice fires). */
async function choose(tab, selector, value, deadline) {
    const expression = `(() => {
        const select = document.querySelector(${JSON.stringify(selector)});
        if (!select || select.disabled) return false;
        if (![...select.options].some(option => option.value === ${JSON.stringify(value)})) return false;
        select.focus();
        select.value = ${JSON.stringify(value)};
        select.dispatchEvent(new Event('input', { bubbles: true }));
        select.dispatchEvent(new Event('change', { bubbles: true }));
        return true;
    })()`;
    await waitUntil(tab, expression, deadline);
}

let input = null;  // stdin's lines, read only when a page hands over

/** Prints {"handoff": name} and waits (until `deadline`) for the caller's line on stdin: its JSON, or the text. */
async function handoff(name, deadline) {
    input ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    console.log(JSON.stringify({ handoff: name }));
    let timer;
    const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the caller did not answer in time')), Math.max(0, deadline - Date.now()));
    });
    try {
        const { value, done } = await Promise.race([input.next(), late]);
        if (done) throw new Error('stdin closed: nobody to hand over to');
        try { return JSON.parse(value); } catch { return value; }
    } finally {
        clearTimeout(timer);
    }
}

/** Runs a page's `steps` (see the header) in order; the first failure stops them and is told in `stepError`. */
async function runSteps(pipe, tab, page, record, deadline) {
    for (const [index, step] of (page.steps ?? []).entries()) {
        const started = performance.now();
        const entry = { what: step.what ?? JSON.stringify(step), ok: false, ms: 0 };
        record.steps.push(entry);
        try {
            if (step.click !== undefined) {
                await click(pipe, tab, await clickablePoint(tab, step.click, step.text, deadline));
            } else if (step.type !== undefined) {
                await click(pipe, tab, await clickablePoint(tab, step.type, null, deadline));
                await pipe.send('Input.insertText', { text: step.text }, tab.sessionId);
            } else if (step.clear !== undefined) {
                await clearFields(pipe, tab, step.clear, deadline);
            } else if (step.wait !== undefined) {
                await waitUntil(tab, step.wait, deadline);
            } else if (step.read !== undefined) {
                entry.value = await tab.evaluate(step.read);
            } else if (step.select !== undefined) {
                await choose(tab, step.select, step.value, deadline);
            } else if (step.handoff !== undefined) {
                entry.value = await handoff(step.handoff, deadline);
            } else if (step.reload) {
                await tab.evaluate('window.__beforeReload = true');  // so that the old page is not taken for the new
                await pipe.send('Page.reload', { ignoreCache: true }, tab.sessionId);
                await waitUntil(tab, `!window.__beforeReload && (${page.ready})`, deadline);
            } else {
                throw new Error('a step needs click, type, clear, wait, read, select, handoff or reload');
            }
            entry.ok = true;
        } catch (error) {
            record.stepError = `step ${index + 1} of ${page.steps.length} (${entry.what}): ${error.message}`;
            return;
        } finally {
            entry.ms = Math.round(performance.now() - started);
        }
    }
}

/** Open one page in a fresh browser context whose proxy is a trap; see the header for the record. */
async function runPage(pipe, page, outDir, timeout) {
    const deadline = Date.now() + timeout * 1000;
    const origin = new URL(page.url).origin;
    const record = {
        name: page.name, url: page.url, ready: false, failed: false, text: '', collected: null,
        requests: [], outside: [], trapped: [], failedLoads: [], responses: [], violations: [],
        exceptions: [], console: [], targets: [], probe: [], screenshot: '', seconds: 0, wsSent: [],
        steps: [], stepError: null,
    };
    const started = performance.now();
    const trap = await startTrap();
    record.trapped = trap.trapped;
    const { browserContextId } = await pipe.send('Target.createBrowserContext', {
        disposeOnDetach: true, proxyServer: `http://127.0.0.1:${trap.port}`, proxyBypassList: '127.0.0.1',
    });
    let tab;
    let watcher;
    try {
        record.probe = await probe(pipe, browserContextId, trap, deadline);
        tab = await openTab(pipe, browserContextId);
        const { sessionId, evaluate } = tab;
        watcher = watch(pipe, sessionId, origin, record);
        await Promise.all([
            pipe.send('Network.enable', {}, sessionId),
            pipe.send('Runtime.enable', {}, sessionId),
            pipe.send('Log.enable', {}, sessionId),
            pipe.send('Page.enable', {}, sessionId),
            pipe.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, sessionId),
            pipe.send('Emulation.setDeviceMetricsOverride', { ...VIEWPORT, deviceScaleFactor: 1, mobile: false }, sessionId),
            pipe.send('Page.addScriptToEvaluateOnNewDocument', { source: RECORD_VIOLATIONS }, sessionId),
        ]);
        await pipe.send('Page.navigate', { url: page.url }, sessionId);
        const status = `(${page.failed}) ? 'failed' : (${page.ready}) ? 'ready' : 'loading'`;
        let current = 'loading';
        while (Date.now() < deadline && current === 'loading') {
            await sleep(100);
            current = await evaluate(status).catch(() => 'loading');
        }
        // Let late requests (lazy chunks, workers, images) show up before looking.
        while (Date.now() < deadline
            && (watcher.state.inflight.size > 0 || Date.now() - watcher.state.lastActivity < QUIET_MS)) {
            await sleep(50);
        }
        record.ready = current === 'ready';
        record.failed = current === 'failed';
        if (record.ready) await runSteps(pipe, tab, page, record, deadline);
        record.text = await evaluate('document.body ? document.body.innerText : ""');
        record.collected = await evaluate(page.collect ?? 'null').catch(error => `collect failed: ${error.message}`);
        record.violations = await evaluate('window.__violations ?? ["the violation recorder did not run"]');
        const { data } = await pipe.send('Page.captureScreenshot', { format: 'png' }, sessionId);
        record.screenshot = join(outDir, `${page.name}.png`);
        await writeFile(record.screenshot, Buffer.from(data, 'base64'));
    } finally {
        watcher?.stop();
        record.seconds = Number(((performance.now() - started) / 1000).toFixed(2));
        await tab?.close();
        await pipe.send('Target.disposeBrowserContext', { browserContextId }).catch(() => {});
        trap.server.close();
    }
    return record;
}

async function main() {
    const options = parseArgs(process.argv.slice(2));
    const workDir = await mkdtemp(join(tmpdir(), 'jsonserve-docs-browser-'));
    const background = await startTrap();
    let chromium;
    try {
        chromium = spawn(options.chromium, chromiumFlags(background.port, join(workDir, 'profile')), {
            stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true,
        });
        let stderr = '';
        chromium.stderr.on('data', chunk => { stderr = (stderr + chunk).slice(-4000); });
        const spawnError = new Promise((_, reject) => chromium.on('error', reject));
        const pipe = new Pipe(chromium);
        const pages = [];
        for (const page of options.pages) {
            pages.push(await Promise.race([runPage(pipe, page, options.out, options.timeout), spawnError]).catch(error => {
                throw new Error(`${page.name}: ${error.message}\nchromium stderr (tail):\n${stderr}`);
            }));
        }
        await pipe.send('Browser.close').catch(() => {});
        const flags = chromiumFlags(background.port, '<profile>');
        console.log(JSON.stringify({ pages, background: background.trapped, flags }));
        return 0;
    } finally {
        if (chromium && chromium.exitCode === null && chromium.signalCode === null) {
            const exited = new Promise(resolve => chromium.once('exit', resolve));
            await Promise.race([exited, sleep(3000)]);
            if (chromium.exitCode === null && chromium.signalCode === null) {
                try { process.kill(-chromium.pid, 'SIGKILL'); } catch { /* already gone */ }
            }
        }
        background.server.close();
        await rm(workDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }
}

main().then(code => process.exit(code), error => {
    console.error(`docs-browser: ${error.stack ?? error}`);
    process.exit(1);
});
