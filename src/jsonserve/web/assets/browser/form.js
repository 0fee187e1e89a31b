// A form from a record's JSON Schema (declared with --schema, or inferred from the data): one labelled
// control per field, typed by the schema; values that are objects, arrays or of mixed types are edited
// as JSON. `read()` says what changed; `showErrors()` puts a 422's field errors under their fields.
import { h, uid } from './dom.js';

const SCALARS = new Set(['string', 'integer', 'number', 'boolean']);

/** What control a field gets: string, integer, number, boolean, enum or json. */
export function fieldKind(schema, value) {
    if (Array.isArray(schema?.enum) && schema.enum.length) return 'enum';
    const types = Array.isArray(schema?.type) ? schema.type : schema?.type ? [schema.type] : [];
    const real = types.filter(type => type !== 'null');
    if (real.length === 1 && SCALARS.has(real[0])) return real[0];
    if (real.length === 0 && value !== undefined && value !== null) {
        const type = typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;
        if (SCALARS.has(type)) return type;
    }
    if (real.length === 0 && !schema?.anyOf && !schema?.oneOf && (value === undefined || value === null)) return 'string';
    return 'json';
}

function typeWords(schema, kind) {
    if (kind === 'enum') return 'one of the listed values';
    if (Array.isArray(schema?.type)) return schema.type.join(' or ');
    return schema?.type ?? (kind === 'json' ? 'any JSON' : kind);
}

/**
 * The form's fields: {element, read, showErrors, clearErrors, focusFirstError}.
 * `record` is the current record ({} when creating); `locked` names fields shown but not edited.
 */
export function recordForm({ schema, record, idField, locked = [], creating = false, allowId = false }) {
    const properties = schema?.properties ?? {};
    const required = new Set(schema?.required ?? []);
    const names = [...new Set([idField, ...Object.keys(properties), ...Object.keys(record)])].filter(name => name !== null);
    const fields = [];
    for (const name of names) {
        if (name === idField && creating && !allowId) continue;
        const readOnly = (name === idField && !creating) || locked.includes(name);
        fields.push(makeField(name, properties[name] ?? {}, record[name], {
            readOnly, required: required.has(name) && name !== idField && !locked.includes(name),
        }));
    }
    const element = h('div', { class: 'fields' }, fields.map(field => field.element));
    return {
        element,
        fields,
        /** {body, invalid}: the changed fields (all filled ones when creating), or the fields that do not parse. */
        read() {
            const body = {};
            const invalid = [];
            for (const field of fields) {
                if (field.readOnly) continue;
                const result = field.read();
                if (result.error) {
                    invalid.push({ path: `/${field.name}`, message: result.error, code: 'type' });
                    continue;
                }
                if (result.empty && creating) continue;
                if (!creating && JSON.stringify(result.value) === JSON.stringify(field.original)) continue;
                if (!creating && result.empty && field.original === undefined) continue;
                body[field.name] = result.value;
            }
            return { body, invalid };
        },
        showErrors(errors) {
            this.clearErrors();
            const unplaced = [];
            for (const error of errors) {
                const top = String(error.path ?? '').split('/')[1] ?? '';
                const field = fields.find(candidate => candidate.name === decodePointer(top));
                if (field) field.setError(error.message ?? error.code ?? 'invalid');
                else unplaced.push(error);
            }
            return unplaced;
        },
        clearErrors() {
            for (const field of fields) field.setError(null);
        },
        focusFirstError() {
            fields.find(field => field.hasError)?.control.focus();
        },
    };
}

function decodePointer(part) {
    return part.replace(/~1/g, '/').replace(/~0/g, '~');
}

function makeField(name, schema, value, { readOnly, required }) {
    const kind = fieldKind(schema, value);
    const id = uid('field');
    const errorId = `${id}-error`;
    const hintId = `${id}-hint`;
    const control = makeControl(kind, schema, value, id, name);
    control.readOnly = readOnly;
    if (readOnly && control.tagName === 'SELECT') control.disabled = true;
    if (readOnly && control.type === 'checkbox') control.disabled = true;
    control.setAttribute('aria-describedby', `${hintId} ${errorId}`);
    if (required) control.setAttribute('aria-required', 'true');
    const hint = h('span', { id: hintId, class: 'hint' }, typeWords(schema, kind),
        required ? ', required' : '', readOnly ? ', read-only' : '',
        schema.description && !schema.description.startsWith('Seen in the data') ? ` — ${schema.description}` : '');
    const error = h('p', { id: errorId, class: 'field-error', hidden: true });
    const label = h('label', { for: id, class: 'field-name' }, name);
    const element = kind === 'boolean'
        ? h('div', { class: 'field field-check', 'data-field': name }, control, label, hint, error)
        : h('div', { class: 'field', 'data-field': name }, label, hint, control, error);
    const field = {
        name, kind, control, element, readOnly, original: value, hasError: false,
        read: () => readControl(kind, control),
        setError(message) {
            field.hasError = Boolean(message);
            error.hidden = !message;
            error.textContent = message ?? '';
            if (message) control.setAttribute('aria-invalid', 'true');
            else control.removeAttribute('aria-invalid');
            element.classList.toggle('has-error', Boolean(message));
        },
    };
    return field;
}

function makeControl(kind, schema, value, id, name) {
    if (kind === 'boolean') return h('input', { id, name, type: 'checkbox', checked: value === true });
    if (kind === 'enum') {
        const current = value === undefined ? '' : JSON.stringify(value);
        return h('select', { id, name },
            h('option', { value: '' }, '(not set)'),
            schema.enum.map(option => h('option', { value: JSON.stringify(option), selected: JSON.stringify(option) === current },
                typeof option === 'string' ? option : JSON.stringify(option))));
    }
    if (kind === 'integer' || kind === 'number') {
        return h('input', { id, name, type: 'number', step: kind === 'integer' ? '1' : 'any', value: value ?? '',
            inputmode: kind === 'integer' ? 'numeric' : 'decimal' });
    }
    if (kind === 'string') {
        const text = value ?? '';
        if (String(text).length > 80 || String(text).includes('\n')) return h('textarea', { id, name, rows: 4 }, text);
        const type = schema.format === 'email' ? 'email' : schema.format === 'uri' ? 'url' : 'text';
        return h('input', { id, name, type, value: text, spellcheck: type === 'text' ? 'true' : 'false' });
    }
    return h('textarea', { id, name, rows: value && typeof value === 'object' ? 5 : 2, class: 'json', spellcheck: 'false' },
        value === undefined ? '' : JSON.stringify(value, null, 2));
}

function readControl(kind, control) {
    const raw = control.value;
    if (kind === 'boolean') return { value: control.checked };
    if (kind === 'enum') return raw === '' ? { empty: true, value: null } : { value: JSON.parse(raw) };
    if (kind === 'integer' || kind === 'number') {
        if (raw.trim() === '') return { empty: true, value: null };
        const number = Number(raw);
        if (!Number.isFinite(number) || (kind === 'integer' && !Number.isInteger(number))) {
            return { error: kind === 'integer' ? 'must be a whole number' : 'must be a number' };
        }
        return { value: number };
    }
    if (kind === 'string') return { empty: raw === '', value: raw };
    if (raw.trim() === '') return { empty: true, value: null };
    try {
        return { value: JSON.parse(raw) };
    } catch {
        return { error: 'is not valid JSON' };
    }
}
