// One collection as a table: columns from its shape, sort by a column, a filter builder that writes the
// REST query (shown, and copyable as curl and fetch), one page at a time (the server windows: 100k
// records are never loaded at once), rows that follow the realtime feed.
import { announce, copy, fill, h, preview, uid } from './dom.js';
import { problemBox } from './problem.js';
import {
    OPERATORS, PAGE_SIZES, curlCommand, emptyState, fetchCall, listing, queryString, toPairs,
} from './query.js';

const RELOAD_DELAY_MS = 80;  // changes arriving together are one re-read
const FLASH_MS = 2000;

export class TableView {
    constructor(app, resource, state) {
        this.app = app;
        this.resource = resource;
        this.name = resource.name;
        this.state = state ?? emptyState();
        this.loads = 0;
        this.changed = new Map();  // id -> op, shown on the next rows
        this.reloadTimer = null;
        this.records = [];
        this.total = 0;
    }

    get compat() {
        return this.app.meta.compat;
    }

    columns() {
        const idField = this.app.meta.idField;
        const names = [idField, ...Object.keys(this.resource.schema?.properties ?? {})];
        for (const record of this.records) names.push(...Object.keys(record));
        return [...new Set(names)];
    }

    render(main) {
        const headingId = uid('heading');
        this.heading = h('h1', { id: headingId }, this.name, ' ', h('span', { class: 'count' }, countWords(this.resource.count)));
        this.filterRows = h('div', { class: 'filter-rows' });
        this.search = h('input', { type: 'search', id: uid('q'), name: 'q', value: this.state.q, placeholder: 'any field' });
        this.form = h('form', { class: 'filters', role: 'search', 'aria-label': `Filter ${this.name}`, onsubmit: event => {
            event.preventDefault();
            this.applyFilters();
        } },
        h('fieldset', {}, h('legend', {}, 'Filters'), this.filterRows,
            h('div', { class: 'filter-actions' },
                h('button', { type: 'button', onclick: () => this.addFilterRow() }, 'Add filter'),
                h('label', { for: this.search.id }, 'Search all fields'), this.search,
                h('button', { type: 'submit', class: 'primary' }, 'Apply'),
                h('button', { type: 'button', onclick: () => this.clearFilters() }, 'Clear'))));
        for (const filter of this.state.filters) this.addFilterRow(filter);
        this.queryCode = h('code', { id: 'shown-query' });
        this.curlCode = h('pre', { id: 'shown-curl' });
        this.fetchCode = h('pre', { id: 'shown-fetch' });
        const querySection = h('section', { class: 'query', 'aria-label': 'The REST query' },
            h('p', { class: 'query-line' }, h('span', { class: 'method' }, 'GET'), ' ', this.queryCode),
            h('div', { class: 'copy-buttons' },
                h('button', { type: 'button', onclick: () => this.copy('url') }, 'Copy URL'),
                h('button', { type: 'button', id: 'copy-curl', onclick: () => this.copy('curl') }, 'Copy as curl'),
                h('button', { type: 'button', id: 'copy-fetch', onclick: () => this.copy('fetch') }, 'Copy as fetch')),
            h('details', {}, h('summary', {}, 'curl and fetch'), this.curlCode, this.fetchCode));
        this.caption = h('caption', { class: 'visually-hidden' });
        this.thead = h('thead');
        this.tbody = h('tbody', { onkeydown: event => this.onKey(event) });
        this.table = h('table', { class: 'records', id: 'records' }, this.caption, this.thead, this.tbody);
        this.slot = h('div', { class: 'slot' });
        this.pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
        const newLink = this.app.meta.readOnly ? null
            : h('a', { class: 'button primary', href: `#/${encodeURIComponent(this.name)}/new` }, 'New record');
        fill(main, h('section', { 'aria-labelledby': headingId, class: 'table-view' },
            h('div', { class: 'title-row' }, this.heading, newLink),
            this.form, querySection, this.slot,
            h('div', { class: 'table-wrap', tabindex: '-1' }, this.table), this.pager));
        this.app.live.subscribe('view', { collection: this.name }, frame => this.onChange(frame));
        return this.load();
    }

    leave() {
        clearTimeout(this.reloadTimer);
        this.app.live.unsubscribe('view');
    }

    /** New state from the address (back/forward, a pasted link): re-read without rebuilding the page. */
    setState(state) {
        this.state = state;
        this.search.value = state.q;
        fill(this.filterRows);
        for (const filter of state.filters) this.addFilterRow(filter);
        return this.load();
    }

    addFilterRow(filter = { field: '', op: 'eq', value: '' }) {
        const n = this.filterRows.children.length + 1;
        const ids = { field: uid('ff'), op: uid('fo'), value: uid('fv') };
        const fields = this.columns();
        if (filter.field && !fields.includes(filter.field)) fields.push(filter.field);
        const fieldSelect = h('select', { id: ids.field, name: 'field' },
            fields.map(name => h('option', { value: name, selected: name === filter.field }, name)));
        const opSelect = h('select', { id: ids.op, name: 'op' },
            OPERATORS.map(({ op, label }) => h('option', { value: op, selected: op === filter.op }, label)));
        const value = h('input', { id: ids.value, name: 'value', type: 'text', value: filter.value });
        const row = h('div', { class: 'filter-row' },
            h('label', { for: ids.field, class: 'visually-hidden' }, `Field of filter ${n}`), fieldSelect,
            h('label', { for: ids.op, class: 'visually-hidden' }, `Operator of filter ${n}`), opSelect,
            h('label', { for: ids.value, class: 'visually-hidden' }, `Value of filter ${n}`), value,
            h('button', { type: 'button', class: 'icon', 'aria-label': `Remove filter ${n}`, onclick: () => {
                row.remove();
                this.applyFilters();
            } }, '✕'));
        this.filterRows.append(row);
        if (!filter.field) fieldSelect.focus();
    }

    readFilters() {
        return [...this.filterRows.children].map(row => ({
            field: row.querySelector('[name=field]').value,
            op: row.querySelector('[name=op]').value,
            value: row.querySelector('[name=value]').value,
        })).filter(filter => filter.field);
    }

    applyFilters() {
        this.state = { ...this.state, filters: this.readFilters(), q: this.search.value, page: 1 };
        return this.navigate();
    }

    clearFilters() {
        fill(this.filterRows);
        this.search.value = '';
        return this.applyFilters();
    }

    sortBy(field) {
        const current = this.state.sort;
        let sort = { field, desc: false };
        if (current?.field === field) sort = current.desc ? null : { field, desc: true };
        this.state = { ...this.state, sort, page: 1 };
        return this.navigate();
    }

    goTo(page) {
        const pages = this.pages();
        this.state = { ...this.state, page: Math.min(Math.max(1, page), pages) };
        return this.navigate();
    }

    pages() {
        return Math.max(1, Math.ceil(this.total / this.state.size));
    }

    /** Put the state in the address (without re-rendering the page), then read the rows. */
    navigate() {
        this.app.setAddress(`#/${encodeURIComponent(this.name)}?${queryString(toPairs(this.state, this.compat))}`);
        return this.load();
    }

    restUrl(pairs) {
        return `${location.origin}${this.app.api.url(`/${encodeURIComponent(this.name)}`)}?${queryString(pairs)}`;
    }

    async load() {
        const ticket = ++this.loads;
        const pairs = toPairs(this.state, this.compat);
        const url = this.restUrl(pairs);
        this.queryCode.textContent = url;
        const signedIn = Boolean(this.app.api.token);
        this.curlCode.textContent = curlCommand(url, signedIn);
        this.fetchCode.textContent = fetchCall(url, signedIn);
        this.table.setAttribute('aria-busy', 'true');
        try {
            const { data, headers } = await this.app.api.request('GET', `/${encodeURIComponent(this.name)}?${queryString(pairs)}`);
            if (ticket !== this.loads) return;
            ({ records: this.records, total: this.total } = listing(data, headers));
            fill(this.slot);
            this.renderRows();
            this.renderPager();
        } catch (problem) {
            if (ticket !== this.loads) return;
            this.records = [];
            this.total = 0;
            fill(this.slot, problemBox(problem));
            this.renderRows();
            this.renderPager();
        } finally {
            if (ticket === this.loads) this.table.removeAttribute('aria-busy');
        }
    }

    renderRows() {
        const columns = this.columns();
        const sort = this.state.sort;
        fill(this.thead, h('tr', {}, columns.map(name => {
            const sorted = sort?.field === name ? (sort.desc ? 'descending' : 'ascending') : null;
            const arrow = sorted === 'ascending' ? ' ▲' : sorted === 'descending' ? ' ▼' : '';
            return h('th', { scope: 'col', 'aria-sort': sorted ?? 'none' },
                h('button', { type: 'button', class: 'sort', 'data-column': name, onclick: () => this.sortBy(name),
                    title: `Sort by ${name}` }, name, h('span', { 'aria-hidden': 'true' }, arrow)));
        })));
        const idField = this.app.meta.idField;
        const rows = this.records.map(record => {
            const id = record[idField];
            const op = this.changed.get(String(id));
            return h('tr', { 'data-id': String(id), class: op ? `flash flash-${op}` : null },
                columns.map(name => name === idField
                    ? h('th', { scope: 'row' }, h('a', { href: `#/${encodeURIComponent(this.name)}/${encodeURIComponent(id)}` }, String(id)))
                    : cell(record[name])));
        });
        if (!rows.length) rows.push(h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, 'No records match.')));
        fill(this.tbody, rows);
        this.tbody.dataset.page = String(this.state.page);
        const sorted = sort ? `, sorted by ${sort.field} ${sort.desc ? 'descending' : 'ascending'}` : '';
        this.caption.textContent = `${this.name}: page ${this.state.page} of ${this.pages()}${sorted}`;
        if (this.changed.size) {
            this.changed.clear();
            setTimeout(() => this.tbody.querySelectorAll('.flash').forEach(row => row.classList.remove('flash')), FLASH_MS);
        }
    }

    renderPager() {
        const pages = this.pages();
        const page = this.state.page;
        const first = this.total ? (page - 1) * this.state.size + 1 : 0;
        const last = Math.min(this.total, page * this.state.size);
        const pageInput = h('input', { type: 'number', id: 'page-number', min: 1, max: pages, value: page, class: 'page-input',
            onchange: event => this.goTo(Number.parseInt(event.target.value, 10) || 1) });
        const sizeSelect = h('select', { id: 'page-size', onchange: event => {
            this.state = { ...this.state, size: Number(event.target.value), page: 1 };
            this.navigate();
        } }, PAGE_SIZES.map(size => h('option', { value: size, selected: size === this.state.size }, String(size))));
        const button = (label, text, target, disabled) => h('button', { type: 'button', 'aria-label': label,
            disabled, 'data-page': target, onclick: () => this.goTo(target) }, text);
        fill(this.pager,
            button('First page', '« First', 1, page <= 1),
            button('Previous page', '‹ Previous', page - 1, page <= 1),
            h('label', { for: 'page-number' }, 'Page'), pageInput, h('span', {}, ` of ${pages.toLocaleString('en')}`),
            button('Next page', 'Next ›', page + 1, page >= pages),
            button('Last page', 'Last »', pages, page >= pages),
            h('span', { class: 'range', id: 'range' }, `${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${this.total.toLocaleString('en')}`),
            h('label', { for: 'page-size' }, 'Rows per page'), sizeSelect);
    }

    /** Arrow keys move between rows, PageDown/PageUp between pages; Enter opens the row's record (a link). */
    onKey(event) {
        const links = [...this.tbody.querySelectorAll('th a')];
        const index = links.indexOf(document.activeElement);
        if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
            if (index < 0) return;
            event.preventDefault();
            links[Math.min(links.length - 1, Math.max(0, index + (event.key === 'ArrowDown' ? 1 : -1)))]?.focus();
        } else if (event.key === 'PageDown' || event.key === 'PageUp') {
            event.preventDefault();
            this.goTo(this.state.page + (event.key === 'PageDown' ? 1 : -1)).then(() => this.tbody.querySelector('th a')?.focus());
        }
    }

    async copy(what) {
        const text = what === 'url' ? this.queryCode.textContent : what === 'curl' ? this.curlCode.textContent : this.fetchCode.textContent;
        const done = await copy(text);
        announce(done ? `Copied the ${what === 'url' ? 'URL' : what} to the clipboard` : 'Could not copy');
    }

    /** A change from the feed: mark its row, re-read the page soon (rows appear, change and go in place). */
    onChange(frame) {
        if (frame.type === 'change') {
            this.changed.set(String(frame.id), frame.op);
            const row = this.tbody.querySelector(`tr[data-id="${CSS.escape(String(frame.id))}"]`);
            if (row && frame.op === 'delete') row.classList.add('flash', 'flash-delete');
            announce(`${this.name} ${frame.id} ${frame.op === 'create' ? 'created' : frame.op === 'delete' ? 'deleted' : 'updated'}`);
        }
        if (frame.type === 'error') return;
        this.app.countsChanged();
        clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => this.load(), RELOAD_DELAY_MS);
    }
}

function cell(value) {
    if (value === undefined) return h('td', { class: 'absent' }, '');
    if (value === null) return h('td', { class: 'null' }, 'null');
    if (typeof value === 'number') return h('td', { class: 'number' }, String(value));
    if (typeof value === 'boolean') return h('td', { class: 'boolean' }, String(value));
    const text = preview(value);
    return h('td', { class: typeof value === 'string' ? 'string' : 'json', title: text.endsWith('…') ? preview(value, 500) : null }, text);
}

export function countWords(count) {
    if (count === null || count === undefined) return 'object';
    return `${count.toLocaleString('en')} record${count === 1 ? '' : 's'}`;
}
