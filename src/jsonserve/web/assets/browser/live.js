// The realtime feed over the WebSocket at <root>/realtime (docs/realtime.md): subscriptions that survive
// a dropped connection. After a reconnect each subscription is sent again with `since` = the last seq it
// saw, so the server replays what happened meanwhile (no gap, no duplicate); `resync_required` (too old)
// tells the page to re-read. The token goes in an `auth` frame, never in the URL. Channel subscriptions
// ({channel}) are sent again as they were (a channel keeps no history: nothing to resume).

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

export class Live {
    constructor(root, token) {
        const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
        this.url = `${scheme}//${location.host}${root}/realtime`;
        this.token = token;
        this.subscriptions = new Map();  // id -> {spec, handler, since}
        this.state = 'connecting';
        this.onState = () => {};
        this.attempt = 0;
        this.socket = null;
        this.timer = null;
        this.connects = 0;
        this.onOther = () => {};  // frames of no live subscription: answers to publishes and `auth`, their errors
    }

    start() {
        if (typeof WebSocket !== 'function') {
            this.setState('offline');
            return;
        }
        this.connect();
    }

    connect() {
        clearTimeout(this.timer);
        const socket = new WebSocket(this.url);
        this.socket = socket;
        socket.onopen = () => {
            this.attempt = 0;
            this.connects += 1;
            if (this.token) this.send({ type: 'auth', token: this.token });
            for (const [id, subscription] of this.subscriptions) this.sendSubscribe(id, subscription);
            this.setState('live');
        };
        socket.onmessage = event => {
            let frame;
            try { frame = JSON.parse(event.data); } catch { return; }
            this.receive(frame);
        };
        socket.onclose = () => {
            if (this.socket !== socket) return;  // replaced on purpose
            this.socket = null;
            this.setState('reconnecting');
            const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
            this.attempt += 1;
            this.timer = setTimeout(() => this.connect(), delay);
        };
    }

    /** A new identity (sign-in, refresh, sign-out): sent as an `auth` frame; a sign-out reconnects anonymous. */
    setToken(token) {
        const signedOut = this.token && !token;
        this.token = token;
        if (signedOut) this.restart();
        else if (token && this.socket?.readyState === WebSocket.OPEN) {
            this.send({ type: 'auth', token });
            for (const [id, subscription] of this.subscriptions) {  // again, now that more may be readable
                this.send({ type: 'unsubscribe', id });
                this.sendSubscribe(id, subscription);
            }
        }
    }

    /** Close and open again (the subscriptions resume with `since`). */
    restart() {
        const old = this.socket;
        this.socket = null;
        old?.close();
        this.connect();
    }

    /**
     * Follow `spec` ({collection}, {collection, record} or {channel}); `handler(event)` gets change, reset,
     * resync, message and error events; `onSubscribed(frame)`, if given, each `subscribed` (after every connect).
     */
    subscribe(id, spec, handler, { onSubscribed = null } = {}) {
        if (this.subscriptions.has(id)) this.unsubscribe(id);
        const subscription = { spec, handler, since: null, onSubscribed };
        this.subscriptions.set(id, subscription);
        this.sendSubscribe(id, subscription);
    }

    unsubscribe(id) {
        if (!this.subscriptions.delete(id)) return;
        this.send({ type: 'unsubscribe', id });
    }

    sendSubscribe(id, subscription) {
        const frame = { type: 'subscribe', id, ...subscription.spec };
        if (subscription.since !== null && subscription.spec.channel === undefined) frame.since = subscription.since;
        this.send(frame);
    }

    /** Send `frame`; false when the connection is not open (nothing is queued). */
    send(frame) {
        if (this.socket?.readyState !== WebSocket.OPEN) return false;
        this.socket.send(JSON.stringify(frame));
        return true;
    }

    receive(frame) {
        const id = frame.sub ?? frame.id;
        const subscription = this.subscriptions.get(id);
        if (frame.type === 'error' && frame.code === 'invalid_token') this.onInvalidToken?.();
        if (!subscription) {
            this.onOther(frame);
            return;
        }
        if (frame.type === 'subscribed') {
            subscription.since = Math.max(subscription.since ?? 0, frame.seq ?? 0);
            subscription.onSubscribed?.(frame);
        } else if (frame.type === 'message') {
            subscription.handler(frame);
        } else if (frame.type === 'change' || frame.type === 'reset') {
            subscription.since = frame.seq;
            subscription.handler(frame);
        } else if (frame.type === 'resync_required') {
            subscription.since = frame.seq;
            subscription.handler(frame);
            this.sendSubscribe(id, subscription);  // the server did not keep this one: subscribe from its seq
        } else if (frame.type === 'error') {
            subscription.handler(frame);
        }
    }

    setState(state) {
        this.state = state;
        this.onState(state);
    }
}
