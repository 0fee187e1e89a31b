// The table's state (filters, search, sort, page) <-> a REST query string, in the server's dialect.
//
// json-server 0.17 writes `views_gte=10&_sort=views&_order=desc&_page=2&_limit=25`; 1.x writes
// `views:gte=10&_sort=-views&_page=2&_per_page=25`. jsonserve reads both on every request; the browser
// writes the one the server speaks (`--compat`), so the query it shows is the one to copy.

export const OPERATORS = [
    { op: 'eq', label: 'equals' },
    { op: 'ne', label: 'does not equal' },
    { op: 'lt', label: 'less than' },
    { op: 'lte', label: 'at most' },
    { op: 'gt', label: 'greater than' },
    { op: 'gte', label: 'at least' },
    { op: 'contains', label: 'contains' },
    { op: 'startsWith', label: 'starts with' },
    { op: 'endsWith', label: 'ends with' },
    { op: 'like', label: 'matches (regex)' },
    { op: 'in', label: 'is one of (a,b,c)' },
];
const OPS = new Set(OPERATORS.map(item => item.op));
const LEGACY = new Set(['ne', 'gte', 'lte', 'like']);  // 0.17's own suffixes
const SUFFIXES = [...OPS].filter(op => op !== 'eq').map(op => [`_${op}`, op]).sort((a, b) => b[0].length - a[0].length);
export const PAGE_SIZES = [10, 25, 50, 100];
export const DEFAULT_SIZE = 25;

/** A fresh table state. */
export function emptyState() {
    return { filters: [], q: '', sort: null, page: 1, size: DEFAULT_SIZE, extra: [] };
}

/** The key a filter is written with: `field`, `field_gte` (0.17) or `field:gte` (1.x and 0.17's missing ones). */
export function filterKey(field, op, compat) {
    if (op === 'eq') return field;
    if (op === 'like') return `${field}_like`;
    if (compat !== '1' && LEGACY.has(op)) return `${field}_${op}`;
    return `${field}:${op}`;
}

/** The REST query of a table state, as [key, value] pairs (without paging when `paging` is false). */
export function toPairs(state, compat, { paging = true } = {}) {
    const pairs = [];
    for (const { field, op, value } of state.filters) {
        if (field) pairs.push([filterKey(field, op, compat), value]);
    }
    if (state.q) pairs.push(['q', state.q]);
    if (state.sort) {
        if (compat === '1') pairs.push(['_sort', `${state.sort.desc ? '-' : ''}${state.sort.field}`]);
        else {
            pairs.push(['_sort', state.sort.field]);
            if (state.sort.desc) pairs.push(['_order', 'desc']);
        }
    }
    pairs.push(...state.extra);
    if (paging) {
        pairs.push(['_page', String(state.page)]);
        pairs.push([compat === '1' ? '_per_page' : '_limit', String(state.size)]);
    }
    return pairs;
}

/** Pairs as a query string, with `:` and `,` left readable (the server decodes either way). */
export function queryString(pairs) {
    const encode = text => encodeURIComponent(text).replace(/%3A/gi, ':').replace(/%2C/gi, ',');
    return pairs.map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&');
}

/** A table state from query pairs in either dialect (what a deep link or a pasted query holds). */
export function fromPairs(pairs) {
    const state = emptyState();
    let order = null;
    for (const [key, value] of pairs) {
        if (key === '_page') state.page = Math.max(1, Number.parseInt(value, 10) || 1);
        else if (key === '_limit' || key === '_per_page') state.size = Math.max(1, Number.parseInt(value, 10) || DEFAULT_SIZE);
        else if (key === 'q') state.q = value;
        else if (key === '_sort') {
            const first = value.split(',')[0] ?? '';
            state.sort = first ? { field: first.replace(/^-/, ''), desc: first.startsWith('-') } : null;
        } else if (key === '_order') order = value.split(',')[0];
        else if (isReserved(key)) state.extra.push([key, value]);
        else state.filters.push({ ...splitKey(key), value });
    }
    if (state.sort && order?.toLowerCase() === 'desc') state.sort.desc = !state.sort.desc;
    return state;
}

function isReserved(key) {
    return ['_start', '_end', '_embed', '_expand', '_where', '_delay'].includes(key);
}

/** `views:gte` or `views_gte` -> {field: 'views', op: 'gte'}; `title` -> eq. */
export function splitKey(key) {
    const colon = key.lastIndexOf(':');
    if (colon > 0 && OPS.has(key.slice(colon + 1))) return { field: key.slice(0, colon), op: key.slice(colon + 1) };
    for (const [suffix, op] of SUFFIXES) {
        if (key.endsWith(suffix) && key.length > suffix.length) return { field: key.slice(0, -suffix.length), op };
    }
    return { field: key, op: 'eq' };
}

/** A `curl` command for `url` (a bearer token appears as $TOKEN, never the real one). */
export function curlCommand(url, signedIn) {
    const auth = signedIn ? ' -H "Authorization: Bearer $TOKEN"' : '';
    return `curl${auth} '${url.replace(/'/g, "'\\''")}'`;
}

/** A `fetch` call for `url` (the token as a variable, never the real one). */
export function fetchCall(url, signedIn) {
    const options = signedIn ? ', {headers: {Authorization: `Bearer ${token}`}}' : '';
    return `const response = await fetch(${JSON.stringify(url)}${options});\nconst records = await response.json();`;
}

/** {records, total} from a list answer: 1.x's envelope or an array with X-Total-Count. */
export function listing(data, headers) {
    if (data && !Array.isArray(data) && Array.isArray(data.data)) return { records: data.data, total: data.items };
    const total = Number.parseInt(headers.get('X-Total-Count') ?? '', 10);
    const records = Array.isArray(data) ? data : [];
    return { records, total: Number.isFinite(total) ? total : records.length };
}
