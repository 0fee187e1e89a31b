// Small DOM helpers: elements are built with text nodes only (no innerHTML), so data can never become markup.

/**
 * h('button', {class: 'x', onclick: fn}, 'Save') -> <button class="x">Save</button>.
 * Attributes named on* become listeners; `false`/`null`/`undefined` attributes are left out;
 * children may be strings, nodes, arrays or null.
 */
export function h(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes ?? {})) {
        if (value === false || value === null || value === undefined) continue;
        if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
        else if (name === 'value') element.value = value;
        else if (name === 'checked') element.checked = Boolean(value);
        else element.setAttribute(name, value === true ? '' : String(value));
    }
    append(element, children);
    return element;
}

function append(element, children) {
    for (const child of children) {
        if (child === null || child === undefined || child === false) continue;
        if (Array.isArray(child)) append(element, child);
        else element.append(child instanceof Node ? child : String(child));
    }
}

/** Replace the children of `element`. */
export function fill(element, ...children) {
    element.replaceChildren();
    append(element, children);
    return element;
}

let unique = 0;
/** A fresh id for label/description links. */
export function uid(prefix = 'id') {
    unique += 1;
    return `${prefix}-${unique}`;
}

/** Say `text` to screen readers (a polite live region). */
export function announce(text) {
    const region = document.getElementById('announce');
    if (!region) return;
    region.textContent = '';
    setTimeout(() => { region.textContent = text; }, 30);
}

/** Copy `text` to the clipboard; fall back to selecting a hidden textarea. */
export async function copy(text) {
    try {
        await navigator.clipboard.writeText(text);
        return true;
    } catch {
        const area = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true' }, text);
        document.body.append(area);
        area.select();
        const done = document.execCommand('copy');
        area.remove();
        return done;
    }
}

/** A value as short text for a table cell: JSON for objects, the text for scalars. */
export function preview(value, limit = 80) {
    if (value === undefined) return '';
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}
