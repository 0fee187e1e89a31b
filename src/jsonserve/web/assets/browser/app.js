// The data browser at <root>/_/: collections, tables, records, live, login. Plain ES modules, no build step.
//
// Addresses (the hash): #/ (overview), #/posts?<REST query> (a table whose state is the query itself),
// #/posts/7 (a record), #/posts/new, #/profile (a singular resource), #/login.
import { Api } from './api.js';
import { announce, fill, h, uid } from './dom.js';
import { RecordView } from './editor.js';
import { Live } from './live.js';
import { problemBox } from './problem.js';
import { fromPairs } from './query.js';
import { TableView, countWords } from './table.js';

const LIVE_WORDS = {
    connecting: 'Live: connecting…', live: 'Live', reconnecting: 'Live: reconnecting…', offline: 'Live: off',
};
const COUNTS_DELAY_MS = 500;

class App {
    constructor() {
        // The page is <root>/_/: the API is at <root>.
        this.root = new URL('..', location.href).pathname.replace(/\/$/, '');
        this.api = new Api(this.root);
        this.live = new Live(this.root, this.api.token);
        this.meta = null;
        this.view = null;
        this.flash = null;
        this.countsTimer = null;
        this.main = document.getElementById('main');
    }

    async start() {
        for (const link of document.querySelectorAll('[data-root-link]')) {
            link.href = `${this.root}${link.dataset.rootLink}`;
        }
        this.live.onState = state => this.showLive(state);
        this.live.onInvalidToken = () => this.api.refresh().then(ok => this.live.setToken(ok ? this.api.token : null));
        this.api.onSessionChange = session => {
            this.live.setToken(session?.accessToken ?? null);
            this.showAccount();
        };
        this.showLive(this.live.state);
        this.live.start();
        window.addEventListener('hashchange', () => this.route());
        await this.loadMeta();
        this.showAccount();
        await this.route();
    }

    async loadMeta() {
        try {
            this.meta = (await this.api.request('GET', '/_/meta.json')).data;
        } catch (problem) {
            if (problem.status === 401 && this.api.session) {  // a token the server no longer takes
                this.api.setSession(null);
                return this.loadMeta();
            }
            fill(this.main, problemBox(problem, 'The server did not describe its data'));
            throw problem;
        }
        this.showResources();
        document.body.dataset.user = this.meta.user ?? '';  // whose view is shown (the tests wait for it)
        return this.meta;
    }

    resource(name) {
        return this.meta.resources.find(resource => resource.name === name) ?? null;
    }

    showResources() {
        const list = document.getElementById('resource-list');
        const current = this.currentName();
        fill(list, this.meta.resources.length ? this.meta.resources.map(resource => h('li', {},
            h('a', { href: `#/${encodeURIComponent(resource.name)}`, 'aria-current': resource.name === current ? 'page' : null },
                h('span', { class: 'name' }, resource.name), ' ',
                h('span', { class: 'count' }, resource.kind === 'singular' ? 'object' : resource.count.toLocaleString('en')))))
            : h('li', { class: 'muted' }, this.meta.auth && !this.api.token ? 'Sign in to see the data.' : 'No collections yet.'));
    }

    /** Re-read the counts soon (after changes from the feed). */
    countsChanged() {
        clearTimeout(this.countsTimer);
        this.countsTimer = setTimeout(async () => {
            try {
                this.meta = (await this.api.request('GET', '/_/meta.json')).data;
                this.showResources();
                const resource = this.view?.resource && this.resource(this.view.name);
                const count = this.main.querySelector('h1 .count');
                if (resource && count) count.textContent = countWords(resource.count);
            } catch { /* the next change tries again */ }
        }, COUNTS_DELAY_MS);
    }

    showLive(state) {
        const badge = document.getElementById('live');
        badge.dataset.state = state;
        badge.querySelector('.live-text').textContent = LIVE_WORDS[state] ?? state;
    }

    showAccount() {
        const slot = document.getElementById('account');
        if (!this.meta?.auth) {
            fill(slot);
            return;
        }
        const user = this.api.session?.user;
        fill(slot, user
            ? [h('span', { class: 'user' }, 'Signed in as ', h('strong', {}, user.email ?? String(user.id))),
                h('button', { type: 'button', id: 'sign-out', onclick: () => this.signOut() }, 'Sign out')]
            : h('a', { class: 'button', href: '#/login', id: 'sign-in' }, 'Sign in'));
    }

    async signOut() {
        await this.api.logout();
        await this.loadMeta();
        announce('Signed out');
        location.hash = '#/';
        await this.route();
    }

    currentName() {
        const path = location.hash.replace(/^#/, '').split('?')[0];
        return decodeURIComponent(path.split('/')[1] ?? '');
    }

    /** Change the address without re-rendering (the view already shows it). */
    setAddress(hash) {
        if (location.hash === hash) return;
        history.pushState(null, '', hash);
    }

    async route() {
        const hash = location.hash.replace(/^#/, '') || '/';
        const [path, query = ''] = hash.split('?');
        const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
        this.showResources();
        if (parts[0] === 'login') return this.show(null, () => this.loginView());
        if (!parts.length) return this.show(null, () => this.overview());
        const resource = this.resource(parts[0]);
        if (!resource) return this.show(null, () => this.missing(parts[0]));
        if (resource.kind === 'singular') return this.show(new RecordView(this, resource, undefined));
        if (parts.length === 1) {
            const state = fromPairs([...new URLSearchParams(query)]);
            if (this.view instanceof TableView && this.view.name === resource.name) return this.view.setState(state);
            return this.show(new TableView(this, resource, state));
        }
        return this.show(new RecordView(this, resource, parts[1] === 'new' && parts.length === 2 ? null : parts[1]));
    }

    async show(view, draw = null) {
        this.view?.leave?.();
        this.view = view;
        const flash = this.flash;
        this.flash = null;
        if (view) await view.render(this.main);
        else draw();
        if (flash) this.main.prepend(h('p', { class: 'flash-note', role: 'status' }, flash));
        document.title = `${view?.name ?? 'Data'} · jsonserve`;
    }

    overview() {
        const rows = this.meta.resources.map(resource => h('tr', {},
            h('th', { scope: 'row' }, h('a', { href: `#/${encodeURIComponent(resource.name)}` }, resource.name)),
            h('td', {}, resource.kind === 'singular' ? 'singular' : 'collection'),
            h('td', { class: 'number' }, resource.kind === 'singular' ? '—' : resource.count.toLocaleString('en')),
            h('td', {}, resource.declared ? 'declared (--schema)' : 'inferred'),
            h('td', {}, h('code', {}, `GET ${this.root}/${resource.name}`))));
        const signIn = this.meta.auth && !this.api.token
            ? h('p', { class: 'note' }, 'This server has access rules (--auth): you see what anyone may read. ',
                h('a', { href: '#/login' }, 'Sign in'), ' to see more.') : null;
        fill(this.main, h('section', { 'aria-labelledby': 'overview-title' },
            h('h1', { id: 'overview-title' }, 'Data'), signIn,
            rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'records overview' },
                h('caption', { class: 'visually-hidden' }, 'The resources you can read'),
                h('thead', {}, h('tr', {}, ['resource', 'kind', 'records', 'shape', 'REST'].map(label => h('th', { scope: 'col' }, label)))),
                h('tbody', {}, rows)))
                : h('p', { class: 'muted' }, 'Nothing to show.'),
            h('p', { class: 'muted' }, `jsonserve ${this.meta.version} · dialect ${this.meta.compat === '1' ? 'json-server 1.x' : 'json-server 0.17'}`,
                this.meta.readOnly ? ' · read-only' : '')));
    }

    missing(name) {
        fill(this.main, h('section', {}, h('h1', {}, name),
            problemBox({ status: 404, title: 'Not Found', body: {
                detail: this.meta.auth && !this.api.token
                    ? `No resource named ${name} that you may read: sign in to see more.`
                    : `No resource named ${name} that you may read.`,
            } })));
    }

    loginView() {
        if (!this.meta.auth) {
            fill(this.main, h('p', {}, 'This server has no login (start it with --auth).'));
            return;
        }
        const ids = { email: uid('email'), password: uid('password') };
        const slot = h('div', { class: 'slot' });
        const submit = async event => {
            event.preventDefault();
            const form = event.target;
            fill(slot);
            form.querySelector('button').disabled = true;
            try {
                const user = await this.api.login(form.email.value, form.password.value);
                await this.loadMeta();
                announce(`Signed in as ${user.email ?? user.id}`);
                location.hash = '#/';
            } catch (problem) {
                fill(slot, problemBox(problem));
                form.password.focus();
            } finally {
                form.querySelector('button').disabled = false;
            }
        };
        fill(this.main, h('section', { class: 'login', 'aria-labelledby': 'login-title' },
            h('h1', { id: 'login-title' }, 'Sign in'),
            h('p', { class: 'muted' }, 'With the email and password of a user of this server (POST /login). The tokens stay in this tab.'),
            slot,
            h('form', { onsubmit: submit, id: 'login-form' },
                h('div', { class: 'field' }, h('label', { for: ids.email, class: 'field-name' }, 'Email'),
                    h('input', { id: ids.email, name: 'email', type: 'email', autocomplete: 'username', required: true })),
                h('div', { class: 'field' }, h('label', { for: ids.password, class: 'field-name' }, 'Password'),
                    h('input', { id: ids.password, name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
                h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')))));
        this.main.querySelector('input').focus();
    }
}

const app = new App();
window.jsonserveBrowser = { live: app.live };  // the realtime connection, for the tests and the console
app.start().catch(error => console.error('data browser:', error.message));
