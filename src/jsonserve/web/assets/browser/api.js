// The REST API as the browser uses it: JSON in and out, the signed-in user's bearer token, problems as errors.
//
// Tokens live in this tab's sessionStorage (gone when the tab closes; never in a URL, a cookie or a log)
// and travel only in the Authorization header (REST) or an `auth` frame (the realtime WebSocket).

const SESSION_KEY = 'jsonserve.session';

/** An RFC 9457 problem answer (or a network failure, status 0), thrown by `Api.request`. */
export class Problem extends Error {
    constructor(status, body, statusText = '') {
        const detail = body && typeof body === 'object' ? body.detail ?? body.title : null;
        super(detail || statusText || `HTTP ${status}`);
        this.status = status;
        this.body = body && typeof body === 'object' ? body : { detail: String(body ?? '') };
        this.title = this.body.title || statusText || (status ? `HTTP ${status}` : 'Network error');
        this.code = this.body.code ?? null;
        this.errors = Array.isArray(this.body.errors) ? this.body.errors : [];
    }
}

export class Api {
    /** `root`: the path the API is served under ('' or '/api/v1'). */
    constructor(root) {
        this.root = root;
        this.session = readSession();
        this.onSessionChange = () => {};
        this.refreshing = null;
    }

    url(path) {
        return `${this.root}${path}`;
    }

    get token() {
        return this.session?.accessToken ?? null;
    }

    /** `method path` with an optional JSON `body` and `If-Match`; resolves to {status, data, etag, headers}. */
    async request(method, path, { body, ifMatch, retry = true } = {}) {
        const headers = { Accept: 'application/json' };
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        if (this.token) headers.Authorization = `Bearer ${this.token}`;
        if (ifMatch) headers['If-Match'] = ifMatch;
        let response;
        try {
            response = await fetch(this.url(path), {
                method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                cache: 'no-store', credentials: 'omit', redirect: 'error',
            });
        } catch (error) {
            throw new Problem(0, { title: 'Network error', detail: `${method} ${path}: ${error.message}` });
        }
        if (response.status === 401 && retry && this.session?.refreshToken && !path.startsWith('/auth/')) {
            if (await this.refresh()) return this.request(method, path, { body, ifMatch, retry: false });
        }
        const text = await response.text();
        let data = null;
        if (text) {
            try { data = JSON.parse(text); } catch { data = text; }
        }
        if (!response.ok) throw new Problem(response.status, data, response.statusText);
        return { status: response.status, data, etag: response.headers.get('ETag'), headers: response.headers };
    }

    /** Sign in: POST /login; keeps the tokens for this tab. */
    async login(email, password) {
        const { data } = await this.request('POST', '/login', { body: { email, password }, retry: false });
        this.setSession({ accessToken: data.accessToken, refreshToken: data.refreshToken ?? null, user: data.user });
        return data.user;
    }

    /** Sign out: POST /auth/logout (which ends every token of the user), then forget the tokens. */
    async logout() {
        try {
            if (this.token) await this.request('POST', '/auth/logout', { retry: false });
        } catch { /* the token may be gone already: forget it anyway */ }
        this.setSession(null);
    }

    /** A new access token from the refresh token (once at a time); false when the session is over. */
    refresh() {
        if (!this.refreshing) {
            this.refreshing = (async () => {
                try {
                    const { data } = await this.request('POST', '/auth/refresh', {
                        body: { refreshToken: this.session.refreshToken }, retry: false,
                    });
                    this.setSession({ accessToken: data.accessToken, refreshToken: data.refreshToken ?? null, user: data.user });
                    return true;
                } catch {
                    this.setSession(null);
                    return false;
                } finally {
                    this.refreshing = null;
                }
            })();
        }
        return this.refreshing;
    }

    setSession(session) {
        this.session = session;
        if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
        else sessionStorage.removeItem(SESSION_KEY);
        this.onSessionChange(session);
    }
}

function readSession() {
    try {
        const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
        return session && typeof session.accessToken === 'string' ? session : null;
    } catch {
        return null;
    }
}
