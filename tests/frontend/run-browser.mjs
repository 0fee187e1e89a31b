// Run the provider checks in headless Chromium, from a page on another origin than the API:
//
//   node run-browser.mjs http://127.0.0.1:API_PORT [--chromium /usr/bin/chromium] [--timeout 60]
//
// Bundles page.mjs (+ checks.mjs and both providers) with esbuild, serves it from a tiny static
// server on its own port (so every API call is cross-origin and PUT/PATCH/DELETE and JSON POSTs
// are preflighted), opens it in Chromium driven over --remote-debugging-pipe, waits for the page
// to write PASS or FAIL into #result, prints that element and exits 0 only on PASS.
// The API must serve a fresh copy of fixture.json. Chromium is never downloaded here: see
// ensure-chromium.sh (Debian's package).

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Pipe } from './cdp-pipe.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
    const options = { api: '', chromium: process.env.CHROMIUM ?? '/usr/bin/chromium', timeout: 60 };
    for (let index = 0; index < argv.length; index += 1) {
        const arg = argv[index];
        if (arg === '--chromium') options.chromium = argv[(index += 1)];
        else if (arg === '--timeout') options.timeout = Number(argv[(index += 1)]);
        else options.api = arg.replace(/\/+$/, '');
    }
    if (!/^https?:\/\//.test(options.api) || !(options.timeout > 0)) {
        console.error('usage: node run-browser.mjs BASE_URL [--chromium PATH] [--timeout SECONDS]');
        process.exit(2);
    }
    return options;
}

async function bundle(outDir) {
    await build({
        entryPoints: [join(here, 'page.mjs')],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: 'chrome120',
        outfile: join(outDir, 'bundle.js'),
        define: { 'process.env.NODE_ENV': '"production"' },
        logLevel: 'warning',
    });
    const html = '<!doctype html><meta charset="utf-8"><title>providers</title>'
        + '<pre id="result" data-status="RUNNING">running</pre><script type="module" src="./bundle.js"></script>\n';
    await writeFile(join(outDir, 'index.html'), html);
}

/** A static server for index.html and bundle.js on 127.0.0.1, on a port of its own. */
async function serveStatic(outDir) {
    const files = {
        '/': ['index.html', 'text/html; charset=utf-8'],
        '/bundle.js': ['bundle.js', 'text/javascript; charset=utf-8'],
    };
    const server = createServer(async (request, response) => {
        const path = new URL(request.url, 'http://page').pathname;
        const entry = files[path];
        if (!entry) {
            response.writeHead(path === '/favicon.ico' ? 204 : 404).end();
            return;
        }
        response.writeHead(200, { 'Content-Type': entry[1], 'Cache-Control': 'no-store' });
        response.end(await readFile(join(outDir, entry[0])));
    });
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
    return server;
}

function launchChromium(executable, userDataDir) {
    const flags = [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage', '--no-default-browser-check', '--remote-debugging-pipe',
        `--user-data-dir=${userDataDir}`, 'about:blank',
    ];
    return spawn(executable, flags, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function runPage(pipe, pageUrl, deadline, diagnostics) {
    const { targetId } = await pipe.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await pipe.send('Target.attachToTarget', { targetId, flatten: true });
    const preflights = [];
    let revalidations = 0; // 304s: conditional GETs (If-None-Match) the browser sent by itself
    pipe.listeners.add(({ method, params, sessionId: from }) => {
        if (from !== sessionId) return;
        if (method === 'Runtime.exceptionThrown') diagnostics.push(`page exception: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`);
        if (method === 'Runtime.consoleAPICalled' && ['error', 'warning'].includes(params.type)) {
            diagnostics.push(`console.${params.type}: ${params.args.map(arg => arg.value ?? arg.description).join(' ')}`);
        }
        if (method === 'Log.entryAdded' && params.entry.level === 'error') diagnostics.push(`log: ${params.entry.text} ${params.entry.url ?? ''}`);
        if (method === 'Network.requestWillBeSent' && params.request.method === 'OPTIONS') preflights.push(params.request.url);
        if (method === 'Network.responseReceivedExtraInfo' && params.statusCode === 304) revalidations += 1;
    });
    await pipe.send('Runtime.enable', {}, sessionId);
    await pipe.send('Log.enable', {}, sessionId);
    await pipe.send('Network.enable', {}, sessionId);
    await pipe.send('Page.navigate', { url: pageUrl }, sessionId);
    const read = async expression => (await pipe.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)).result.value;
    let status;
    while (Date.now() < deadline) {
        status = await read("document.getElementById('result')?.dataset.status ?? 'LOADING'");
        if (status === 'PASS' || status === 'FAIL') break;
        await sleep(100);
    }
    const dom = await read("document.getElementById('result')?.outerHTML ?? document.documentElement.outerHTML");
    return { status, dom, preflights, revalidations };
}

async function main() {
    const options = parseArgs(process.argv.slice(2));
    const workDir = await mkdtemp(join(tmpdir(), 'jsonserve-browser-'));
    const outDir = join(workDir, 'page');
    const userDataDir = join(workDir, 'profile');
    let server;
    let chromium;
    const diagnostics = [];
    try {
        const t0 = performance.now();
        await bundle(outDir);
        server = await serveStatic(outDir);
        const pageOrigin = `http://127.0.0.1:${server.address().port}`;
        const pageUrl = `${pageOrigin}/?api=${encodeURIComponent(options.api)}`;
        console.log(`bundled in ${((performance.now() - t0) / 1000).toFixed(2)}s; page ${pageOrigin}, API ${options.api}`);

        chromium = launchChromium(options.chromium, userDataDir);
        let stderr = '';
        chromium.stderr.on('data', chunk => { stderr = (stderr + chunk).slice(-4000); });
        const spawnError = new Promise((_, reject) => chromium.on('error', reject));
        const pipe = new Pipe(chromium);
        const deadline = Date.now() + options.timeout * 1000;
        const t1 = performance.now();
        const outcome = await Promise.race([runPage(pipe, pageUrl, deadline, diagnostics), spawnError]).catch(error => {
            throw new Error(`${error.message}\nchromium stderr (tail):\n${stderr}`);
        });
        console.log(`page ran in ${((performance.now() - t1) / 1000).toFixed(2)}s; CORS preflights seen: ${outcome.preflights.length}, 304 revalidations: ${outcome.revalidations}`);
        await pipe.send('Browser.close').catch(() => {});

        console.log(outcome.dom);
        for (const line of diagnostics) console.log(line);
        let status = outcome.status;
        if (status === 'PASS' && outcome.preflights.length === 0) {
            console.log('FAIL no CORS preflight was observed: the page was not cross-origin?');
            status = 'FAIL';
        }
        if (status !== 'PASS' && status !== 'FAIL') console.log(`FAIL the page did not finish within ${options.timeout}s (status ${status})`);
        console.log(`browser: ${status === 'PASS' ? 'PASS' : 'FAIL'}`);
        return status === 'PASS' ? 0 : 1;
    } finally {
        if (chromium && chromium.exitCode === null && chromium.signalCode === null) {
            const exited = new Promise(resolve => chromium.once('exit', resolve));
            await Promise.race([exited, sleep(3000)]);
            if (chromium.exitCode === null && chromium.signalCode === null) {
                try { process.kill(-chromium.pid, 'SIGKILL'); } catch { /* already gone */ }
            }
        }
        server?.close();
        await rm(workDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }
}

main().then(code => process.exit(code), error => {
    console.error(`browser: FAIL ${error.stack ?? error}`);
    process.exit(1);
});
