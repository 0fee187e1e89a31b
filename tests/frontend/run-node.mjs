// Run the provider checks from Node: `node run-node.mjs http://127.0.0.1:PORT`.
// The server must serve a fresh copy of fixture.json. Exits 1 if any check fails.

import { runChecks } from './checks.mjs';

const api = (process.argv[2] ?? '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(api)) {
    console.error('usage: node run-node.mjs BASE_URL   (a jsonserve serving a fresh copy of fixture.json)');
    process.exit(2);
}
const started = performance.now();
const { passed, failed } = await runChecks(api, { log: line => console.log(line) });
const seconds = ((performance.now() - started) / 1000).toFixed(2);
console.log(`node: ${passed.length} passed, ${failed.length} failed in ${seconds}s`);
process.exit(failed.length ? 1 : 0);
