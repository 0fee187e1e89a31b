// Problem details (RFC 9457) shown as they are: status and title, the detail, the code, each field error.
import { h } from './dom.js';

/** An alert box for a Problem (api.js) or any Error. */
export function problemBox(problem, heading = null) {
    const status = problem.status ? `${problem.status} ` : '';
    const title = problem.title ?? 'Error';
    const detail = problem.body?.detail ?? problem.message;
    return h('div', { class: 'problem', role: 'alert' },
        h('p', { class: 'problem-title' }, h('strong', {}, heading ?? `${status}${title}`)),
        detail && detail !== title ? h('p', {}, detail) : null,
        problem.code ? h('p', { class: 'muted' }, 'code: ', h('code', {}, problem.code)) : null,
        problem.errors?.length ? h('ul', { class: 'problem-errors' },
            problem.errors.map(error => h('li', {},
                h('code', {}, error.path || error.field || '/'), ': ', error.message ?? '',
                error.code ? h('span', { class: 'muted' }, ` (${error.code})`) : null))) : null);
}
