// The realtime demo at <root>/realtime/demo (docs/realtime.md, "Demo page"): a table that follows a
// collection and a chat on a channel, over one WebSocket. It reuses the data browser's modules: the REST
// client and its sign-in (api.js), the realtime connection that resumes with `since` (live.js), the DOM
// helpers and the problem box. Plain ES modules, no build step, nothing loaded from anywhere else.
//
// The table: subscribe first, and only once the server said `subscribed` read the records over REST,
// holding back the changes that arrive meanwhile and applying them, in seq order, over what REST gave.
// Each change carries the whole record, so applying one again is harmless, and after the held-back
// ones the table is at least as new as the feed. `reset` and `resync_required` read the records again.
import { Api } from './api.js';
import { fill, h, preview } from './dom.js';
import { Live } from './live.js';
import { problemBox } from './problem.js';

const LIVE_WORDS = {
    connecting: 'Live: connecting…', live: 'Live', reconnecting: 'Live: reconnecting…', offline: 'Live: off',
};
const PAGE_SIZE = 100;  // records read over REST; live creates are added beyond
const MAX_PROBLEMS = 4;
const FLASH_MS = 1500;
const TIME = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** An `error` frame as a problem box: its `code` is REST's (unauthorized, forbidden, invalid_message…). */
function frameProblem(frame, heading) {
    return problemBox({ title: frame.code, code: frame.code, errors: frame.errors ?? [], body: { detail: frame.detail } },
        `${heading}: ${frame.code}`);
}

class Demo {
    constructor() {
        // The module is <root>/_/demo.js: the API is at <root>.
        this.root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
        this.api = new Api(this.root);
        this.live = new Live(this.root, this.api.token);
        this.meta = null;
        this.collection = null;
        this.records = new Map();  // String(id) -> record, in the order first seen
        this.total = null;
        this.loading = false;  // changes are held back in `pending` until the REST read is in
        this.fetching = false;
        this.pending = [];
        this.subscribed = null;  // the collection whose subscription the server confirmed
        this.channel = null;
        this.published = 0;
        this.element = id => document.getElementById(id);
    }

    async start() {
        for (const link of document.querySelectorAll('[data-root-link]')) link.href = `${this.root}${link.dataset.rootLink}`;
        this.element('ws-url').textContent = this.live.url;
        this.live.onState = state => this.showLive(state);
        this.live.onOther = frame => this.onOther(frame);
        this.live.onInvalidToken = () => this.api.refresh().then(ok => this.live.setToken(ok ? this.api.token : null));
        this.api.onSessionChange = session => {
            this.live.setToken(session?.accessToken ?? null);
            this.showAccount();
        };
        this.element('collection').addEventListener('change', event => this.follow(event.target.value));
        this.element('channel').addEventListener('change', () => this.join());
        this.element('chat-form').addEventListener('submit', event => this.publish(event));
        this.element('login-form').addEventListener('submit', event => this.signIn(event));
        this.showLive(this.live.state);
        this.live.start();
        this.join();
        await this.loadMeta();
    }

    // ------------------------------------------------------------------ the collections and the account

    async loadMeta() {
        try {
            this.meta = (await this.api.request('GET', '/_/meta.json')).data;
        } catch (problem) {
            if (problem.status === 401 && this.api.session) {  // a token the server no longer takes
                this.api.setSession(null);
                return this.loadMeta();
            }
            this.showProblem(problemBox(problem, 'The server did not describe its data'));
            return;
        }
        document.body.dataset.user = this.meta.user ?? '';
        this.showAccount();
        const names = this.meta.resources.filter(resource => resource.kind !== 'singular').map(resource => resource.name);
        const select = this.element('collection');
        fill(select, names.map(name => h('option', { value: name }, name)));
        select.disabled = names.length === 0;
        if (!names.length) {
            this.live.unsubscribe('table');
            this.collection = null;
            this.records.clear();
            this.render(this.meta.auth && !this.api.token ? 'Sign in to see the data.' : 'No collection to show.');
            return;
        }
        const name = names.includes(this.collection) ? this.collection : names[0];
        select.value = name;
        if (name !== this.collection) this.follow(name);
        else this.reload();  // a new identity may read more (or less) of it
    }

    showAccount() {
        const slot = this.element('account');
        const form = this.element('sign-in');
        const auth = Boolean(this.meta?.auth);
        const user = this.api.session?.user;
        form.hidden = !auth || Boolean(user);
        fill(slot, auth && user
            ? [h('span', { class: 'user' }, 'Signed in as ', h('strong', {}, user.email ?? String(user.id))),
                h('button', { type: 'button', id: 'sign-out', onclick: () => this.signOut() }, 'Sign out')]
            : null);
    }

    async signIn(event) {
        event.preventDefault();
        const form = event.target;
        form.querySelector('button').disabled = true;
        try {
            await this.api.login(form.email.value, form.password.value);
            form.reset();
            fill(this.element('problems'));
            await this.loadMeta();
        } catch (problem) {
            this.showProblem(problemBox(problem, `Sign-in refused: ${problem.status || ''} ${problem.title}`.trim()));
        } finally {
            form.querySelector('button').disabled = false;
        }
    }

    async signOut() {
        await this.api.logout();
        await this.loadMeta();
    }

    showLive(state) {
        const badge = this.element('live');
        badge.dataset.state = state;
        badge.querySelector('.live-text').textContent = LIVE_WORDS[state] ?? state;
    }

    showProblem(box) {
        const list = this.element('problems');
        list.prepend(box);
        while (list.children.length > MAX_PROBLEMS) list.lastElementChild.remove();
    }

    onOther(frame) {
        if (frame.type !== 'error') return;
        const publish = String(frame.id ?? '').startsWith('publish-');
        this.showProblem(frameProblem(frame, publish ? 'Message not sent' : 'Realtime'));
    }

    // ------------------------------------------------------------------ the live table

    follow(name) {
        this.collection = name;
        this.subscribed = null;
        this.records.clear();
        this.total = null;
        this.loading = true;
        this.pending = [];
        this.render('Loading…');
        this.live.subscribe('table', { collection: name }, frame => this.onTableFrame(frame), {
            onSubscribed: () => {
                this.subscribed = name;
                if (this.loading && !this.fetching) this.load();
            },
        });
        if (this.live.state === 'offline') this.load();  // no WebSocket here: at least the records
    }

    /** Read the records again over REST, holding back the changes meanwhile. */
    reload() {
        this.loading = true;
        this.pending = [];
        if (!this.fetching) this.load();
    }

    async load() {
        const name = this.collection;
        this.fetching = true;
        this.element('records').setAttribute('aria-busy', 'true');
        try {
            const { data, headers } = await this.api.request('GET', `/${encodeURIComponent(name)}?_page=1&_limit=${PAGE_SIZE}`);
            if (name !== this.collection) return;
            const id = this.meta?.idField ?? 'id';
            this.records = new Map((Array.isArray(data) ? data : []).map(record => [String(record[id]), record]));
            const total = Number(headers.get('X-Total-Count'));
            this.total = Number.isFinite(total) && headers.has('X-Total-Count') ? total : this.records.size;
            this.settle();
            this.render();
        } catch (problem) {
            if (name !== this.collection) return;
            this.settle();
            this.records.clear();
            this.render('');
            this.showProblem(problemBox(problem, `GET /${name}: ${problem.status || ''} ${problem.title}`.trim()));
        } finally {
            this.fetching = false;
            // The collection changed meanwhile: read the new one, once its subscription is live.
            if (name !== this.collection && this.subscribed === this.collection) this.load();
        }
    }

    /** The REST read is in: apply the changes held back meanwhile, then apply them as they come. */
    settle() {
        for (const frame of this.pending) this.apply(frame);
        this.pending = [];
        this.loading = false;
    }

    onTableFrame(frame) {
        if (frame.type === 'change') {
            if (this.loading) {
                this.pending.push(frame);
                return;
            }
            const key = this.apply(frame);
            this.render();
            this.flash(key);
        } else if (frame.type === 'reset' || frame.type === 'resync_required') {
            this.reload();
        } else if (frame.type === 'error') {
            // not_found answers the unsubscribe of a subscription the server had refused (a new sign-in sends one)
            if (frame.code === 'not_found') return;
            this.showProblem(frameProblem(frame, `Live table ${this.collection}`));
            if (this.loading && !this.fetching) this.load();  // still show what REST says
        }
    }

    /** Apply one change to the records; its key. */
    apply(frame) {
        const key = String(frame.id);
        const had = this.records.has(key);
        if (frame.op === 'delete') {
            if (had) this.total -= 1;
            this.records.delete(key);
        } else {
            if (!had && this.total !== null) this.total += 1;
            this.records.set(key, frame.record);
        }
        const table = this.element('records');
        table.dataset.seq = String(frame.seq);
        table.dataset.last = `${frame.op} ${frame.id}`;
        return key;
    }

    render(empty = 'No records.') {
        const table = this.element('records');
        const id = this.meta?.idField ?? 'id';
        const records = [...this.records.entries()];
        const columns = [id];
        for (const [, record] of records) {
            for (const field of Object.keys(record ?? {})) if (!columns.includes(field)) columns.push(field);
        }
        fill(table.querySelector('thead'), h('tr', {}, columns.map(column => h('th', { scope: 'col' }, column))));
        fill(table.querySelector('tbody'), records.length
            ? records.map(([key, record]) => h('tr', { 'data-id': key },
                h('th', { scope: 'row' }, key),
                columns.slice(1).map(column => h('td', {
                    'data-column': column, class: record[column] === undefined ? 'absent' : null,
                }, preview(record[column])))))
            : h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, empty)));
        if (this.loading) table.setAttribute('aria-busy', 'true');
        else table.removeAttribute('aria-busy');
        const shown = this.records.size;
        this.element('table-status').textContent = this.total === null ? ''
            : `${shown} shown of ${this.total} · live${table.dataset.last ? ` · last: ${table.dataset.last}` : ''}`;
    }

    flash(key) {
        const row = [...this.element('records').querySelectorAll('tbody tr')].find(tr => tr.dataset.id === key);
        if (!row) return;
        row.classList.add('flash');
        setTimeout(() => row.classList.remove('flash'), FLASH_MS);
    }

    // ------------------------------------------------------------------ the chat

    join() {
        const channel = this.element('channel').value.trim();
        if (!channel || channel === this.channel) return;
        this.channel = channel;
        fill(this.element('messages'));
        this.element('chat-status').textContent = `Joining ${channel}…`;
        delete document.body.dataset.chat;
        this.live.subscribe('chat', { channel }, frame => this.onChatFrame(frame), {
            onSubscribed: () => {
                this.element('chat-status').textContent = `Joined ${channel}`;
                document.body.dataset.chat = channel;  // the tests wait for it
            },
        });
    }

    onChatFrame(frame) {
        if (frame.type === 'message') {
            this.showMessage(frame);
        } else if (frame.type === 'error' && frame.code !== 'not_found') {
            this.element('chat-status').textContent = `Not joined: ${frame.code}`;
            this.showProblem(frameProblem(frame, `Chat ${this.channel}`));
        }
    }

    showMessage(frame) {
        const data = frame.data;
        const text = data && typeof data === 'object' && typeof data.text === 'string' ? data.text : JSON.stringify(data);
        const at = new Date(frame.at);
        const list = this.element('messages');
        list.append(h('li', { class: 'message' },
            h('time', { datetime: frame.at }, Number.isNaN(at.getTime()) ? frame.at : TIME.format(at)), ' ',
            h('span', { class: 'from' }, frame.from === null || frame.from === undefined ? 'anonymous' : `user ${frame.from}`), ' ',
            h('span', { class: 'text' }, text)));
        list.scrollTop = list.scrollHeight;
    }

    publish(event) {
        event.preventDefault();
        const input = this.element('chat-text');
        const text = input.value.trim();
        if (!text) return;
        this.published += 1;
        // The id comes back on an error frame (rate limit, a channel rule), so the page can say which send failed.
        const sent = this.live.send({ type: 'publish', id: `publish-${this.published}`, channel: this.channel, data: { text } });
        if (!sent) {
            this.showProblem(problemBox({ title: 'Not connected', body: { detail: 'The realtime connection is down: the message was not sent.' } }));
            return;
        }
        input.value = '';
        input.focus();
    }
}

const demo = new Demo();
window.jsonserveDemo = demo;  // for the tests and the console
demo.start().catch(error => console.error('realtime demo:', error.message));
