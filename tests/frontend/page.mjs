// Browser entry point (bundled by run-browser.mjs): runs the provider checks from a page whose
// origin differs from the API's, then writes the verdict into #result:
// data-status="PASS" or "FAIL", and one line per check in the text.

import { runChecks } from './checks.mjs';

const result = document.getElementById('result');
const lines = [];
const api = (new URLSearchParams(location.search).get('api') ?? '').replace(/\/+$/, '');

try {
    if (!api) throw new Error('no ?api= in the page URL');
    const { passed, failed } = await runChecks(api, { log: line => lines.push(line), inBrowser: true });
    lines.push(`browser: ${passed.length} passed, ${failed.length} failed`);
    result.textContent = lines.join('\n');
    result.dataset.status = failed.length ? 'FAIL' : 'PASS';
} catch (error) {
    lines.push(`FAIL page error: ${error?.stack ?? error}`);
    result.textContent = lines.join('\n');
    result.dataset.status = 'FAIL';
}
