// One record: view and edit it (a form from its schema, or its JSON), create, delete after a confirmation.
// Saves send If-Match with the ETag the record was read with: when someone else changed it meanwhile
// (412) both versions are shown side by side; a 422's errors are shown on their fields.
import { announce, fill, h, uid } from './dom.js';
import { recordForm } from './form.js';
import { problemBox } from './problem.js';
import { curlCommand } from './query.js';

export class RecordView {
    /** `id`: a record's id; `null` to create one; `undefined` for a singular resource. */
    constructor(app, resource, id) {
        this.app = app;
        this.resource = resource;
        this.name = resource.name;
        this.id = id;
        this.singular = resource.kind === 'singular';
        this.creating = id === null;
        this.record = {};
        this.etag = null;
        this.jsonMode = false;
    }

    get path() {
        const base = `/${encodeURIComponent(this.name)}`;
        return this.singular || this.creating ? base : `${base}/${encodeURIComponent(this.id)}`;
    }

    get managed() {
        return this.app.meta.timestamps ? ['createdAt', 'updatedAt'] : [];
    }

    async render(main) {
        this.main = main;
        const headingId = uid('heading');
        const title = this.creating ? `New ${this.name} record` : this.singular ? this.name : `${this.name} ${this.id}`;
        this.status = h('p', { class: 'status', role: 'status', id: 'editor-status' });
        this.slot = h('div', { class: 'slot', id: 'editor-problem' });
        this.conflictSlot = h('div', { id: 'conflict-slot' });
        this.body = h('div', { class: 'editor-body' });
        this.section = h('section', { 'aria-labelledby': headingId, class: 'editor' },
            h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
                h('a', { href: `#/${encodeURIComponent(this.name)}` }, this.name), this.singular ? null : ' › ',
                this.singular ? null : h('span', { 'aria-current': 'page' }, this.creating ? 'new' : String(this.id))),
            h('h1', { id: headingId }, title), this.status, this.slot, this.conflictSlot, this.body);
        fill(main, this.section);
        if (!this.creating && !(await this.read())) return;
        this.draw();
        if (!this.creating) {
            const spec = this.singular ? { collection: this.name } : { collection: this.name, record: this.record[this.app.meta.idField] ?? this.id };
            this.app.live.subscribe('view', spec, frame => this.onChange(frame));
        }
    }

    leave() {
        this.app.live.unsubscribe('view');
    }

    /** GET the record (and its ETag); false (with the problem shown) when it cannot be read. */
    async read() {
        try {
            const { data, etag } = await this.app.api.request('GET', this.path);
            this.record = data ?? {};
            this.etag = etag;
            return true;
        } catch (problem) {
            fill(this.slot, problemBox(problem));
            return false;
        }
    }

    draw() {
        const readOnly = this.app.meta.readOnly;
        this.form = recordForm({
            schema: this.resource.schema, record: this.record, idField: this.singular ? null : this.app.meta.idField,
            locked: this.managed, creating: this.creating, allowId: this.app.meta.compat !== '1',
        });
        this.jsonArea = h('textarea', { id: 'record-json', class: 'json', rows: 16, spellcheck: 'false' },
            JSON.stringify(this.creating ? {} : this.record, null, 2));
        const jsonError = h('p', { class: 'field-error', id: 'record-json-error', hidden: true });
        this.jsonArea.setAttribute('aria-describedby', jsonError.id);
        this.jsonError = jsonError;
        const jsonBlock = h('div', { class: 'field json-block', hidden: !this.jsonMode },
            h('label', { for: 'record-json', class: 'field-name' }, 'The whole record as JSON'),
            h('span', { class: 'hint' }, this.creating ? 'sent with POST' : 'sent with PUT (fields left out are removed)'),
            this.jsonArea, jsonError);
        this.form.element.hidden = this.jsonMode;
        const modeToggle = h('input', { type: 'checkbox', id: 'json-mode', checked: this.jsonMode, onchange: event => {
            this.jsonMode = event.target.checked;
            this.form.element.hidden = this.jsonMode;
            jsonBlock.hidden = !this.jsonMode;
        } });
        const save = h('button', { type: 'submit', class: 'primary', id: 'save', disabled: readOnly },
            this.creating ? 'Create' : 'Save changes');
        const remove = this.creating || this.singular || readOnly ? null
            : h('button', { type: 'button', class: 'danger', id: 'delete', onclick: () => this.confirmDelete() }, 'Delete…');
        const form = h('form', { class: 'record-form', novalidate: true, 'aria-label': `Edit ${this.name}`, onsubmit: event => {
            event.preventDefault();
            this.save();
        } },
        h('div', { class: 'mode' }, modeToggle, h('label', { for: 'json-mode' }, 'Edit as JSON')),
        this.form.element, jsonBlock,
        h('div', { class: 'actions' }, save, remove,
            h('a', { href: `#/${encodeURIComponent(this.name)}`, class: 'button' }, `Back to ${this.name}`)));
        const url = `${location.origin}${this.app.api.url(this.path)}`;
        const rest = this.creating ? null : h('details', { class: 'rest' }, h('summary', {}, 'This record over REST'),
            h('p', {}, 'ETag: ', h('code', { id: 'etag' }, this.etag ?? '')),
            h('pre', {}, curlCommand(url, Boolean(this.app.api.token))));
        fill(this.body, form, rest, this.deleteDialog());
    }

    deleteDialog() {
        this.dialog = h('dialog', { 'aria-labelledby': 'delete-title', id: 'delete-dialog' },
            h('h2', { id: 'delete-title' }, `Delete ${this.name} ${this.id}?`),
            h('p', {}, 'The record is removed for everyone. This cannot be undone.'),
            h('form', { method: 'dialog', class: 'actions' },
                h('button', { value: 'cancel', autofocus: true }, 'Cancel'),
                h('button', { value: 'delete', class: 'danger', id: 'confirm-delete' }, 'Delete')));
        this.dialog.addEventListener('close', () => {
            if (this.dialog.returnValue === 'delete') this.delete();
        });
        return this.dialog;
    }

    confirmDelete() {
        this.dialog.returnValue = '';
        this.dialog.showModal();
    }

    /** What to send: [method, body], or null when the input is not valid (shown on the fields). */
    request() {
        fill(this.slot);
        if (this.jsonMode) {
            this.jsonError.hidden = true;
            this.jsonArea.removeAttribute('aria-invalid');
            let body;
            try {
                body = JSON.parse(this.jsonArea.value);
            } catch (error) {
                body = error;
            }
            if (!body || typeof body !== 'object' || Array.isArray(body) || body instanceof Error) {
                this.jsonError.textContent = 'Not a JSON object.';
                this.jsonError.hidden = false;
                this.jsonArea.setAttribute('aria-invalid', 'true');
                this.jsonArea.focus();
                return null;
            }
            return [this.creating ? 'POST' : 'PUT', body];
        }
        const { body, invalid } = this.form.read();
        if (invalid.length) {
            this.form.showErrors(invalid);
            this.form.focusFirstError();
            return null;
        }
        this.form.clearErrors();
        return [this.creating ? 'POST' : 'PATCH', body];
    }

    async save(overrideEtag = null, prepared = null) {
        this.say('');
        const request = prepared ?? this.request();
        if (!request) return;
        const [method, body] = request;
        if (method === 'PATCH' && !Object.keys(body).length) {
            this.say('Nothing changed.');
            return;
        }
        try {
            const response = await this.app.api.request(method, this.path, {
                body, ifMatch: this.creating ? null : overrideEtag ?? this.etag,
            });
            fill(this.conflictSlot);
            if (this.creating) {
                const id = response.data?.[this.app.meta.idField];
                announce(`Created ${this.name} ${id}`);
                this.app.flash = `Created ${this.name} ${id}.`;
                location.hash = `#/${encodeURIComponent(this.name)}/${encodeURIComponent(id)}`;
                return;
            }
            this.record = response.data;
            this.etag = response.etag;
            this.draw();
            this.say(`Saved at ${new Date().toLocaleTimeString('en')}.`);
        } catch (problem) {
            if (problem.status === 412) await this.conflict(method, body);
            else if (problem.status === 422) this.invalid(problem);
            else fill(this.slot, problemBox(problem));
        }
    }

    invalid(problem) {
        if (this.jsonMode) {
            fill(this.slot, problemBox(problem));
            return;
        }
        const unplaced = this.form.showErrors(problem.errors);
        fill(this.slot, problemBox(problem, unplaced.length ? null : `${problem.status} ${problem.title}: see the fields below`));
        this.form.focusFirstError();
    }

    /** 412: someone else saved first. Show both versions; keep mine (with their ETag) or take theirs. */
    async conflict(method, body) {
        let theirs;
        let theirEtag;
        try {
            ({ data: theirs, etag: theirEtag } = await this.app.api.request('GET', this.path));
        } catch (problem) {
            fill(this.slot, problemBox(problem, 'The record changed on the server and can no longer be read'));
            return;
        }
        const mine = method === 'PATCH' ? { ...this.record, ...body } : body;
        const keys = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])];
        const show = value => (value === undefined ? '(absent)' : JSON.stringify(value));
        const rows = keys.map(key => {
            const differs = JSON.stringify(mine[key]) !== JSON.stringify(theirs[key]);
            return h('tr', { class: differs ? 'differs' : null, 'data-field': key },
                h('th', { scope: 'row' }, key, differs ? h('span', { class: 'visually-hidden' }, ' (differs)') : null),
                h('td', { class: 'mine' }, show(mine[key])), h('td', { class: 'theirs' }, show(theirs[key])));
        });
        fill(this.conflictSlot, h('section', { class: 'conflict', role: 'alert', 'aria-labelledby': 'conflict-title', id: 'conflict' },
            h('h2', { id: 'conflict-title' }, 'Someone else changed this record'),
            h('p', {}, 'Your changes were not saved: the record changed on the server after you opened it (412, the ETag no longer matches). Both versions:'),
            h('div', { class: 'table-wrap' }, h('table', { class: 'compare' },
                h('caption', {}, 'Your version and the version on the server'),
                h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'field'), h('th', { scope: 'col' }, 'Your version'),
                    h('th', { scope: 'col' }, 'On the server now'))),
                h('tbody', {}, rows))),
            h('div', { class: 'actions' },
                h('button', { type: 'button', class: 'primary', id: 'keep-mine', onclick: () => this.save(theirEtag, [method, body]) },
                    'Save mine over theirs'),
                h('button', { type: 'button', id: 'take-theirs', onclick: () => {
                    this.record = theirs;
                    this.etag = theirEtag;
                    fill(this.conflictSlot);
                    this.draw();
                    this.say('Loaded the version on the server.');
                } }, 'Discard mine, load theirs'))));
        this.conflictSlot.querySelector('h2').setAttribute('tabindex', '-1');
        this.conflictSlot.querySelector('h2').focus();
    }

    async delete() {
        try {
            await this.app.api.request('DELETE', this.path, { ifMatch: this.etag });
            this.app.flash = `Deleted ${this.name} ${this.id}.`;
            announce(this.app.flash);
            location.hash = `#/${encodeURIComponent(this.name)}`;
        } catch (problem) {
            fill(this.slot, problemBox(problem));
        }
    }

    /** The open record changed on the server: reload it when nothing is being edited, else say so. */
    async onChange(frame) {
        if (frame.type !== 'change' && frame.type !== 'reset') return;
        if (frame.op === 'delete') {
            this.say('This record was deleted on the server.');
            return;
        }
        if (frame.record && JSON.stringify(frame.record) === JSON.stringify(this.record)) return;  // our own save
        const dirty = this.jsonMode ? this.jsonArea.value !== JSON.stringify(this.record, null, 2)
            : Object.keys(this.form.read().body).length > 0;
        if (dirty) {
            this.say('This record changed on the server while you edit it: saving will show both versions.');
            return;
        }
        if (await this.read()) {
            this.draw();
            this.say('Updated from the server.');
        }
    }

    say(text) {
        this.status.textContent = text;
    }
}
