// The Chrome DevTools Protocol over --remote-debugging-pipe, shared by the browser tests.

/** The Chrome DevTools Protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-framed JSON). */
export class Pipe {
    constructor(child) {
        this.child = child;
        this.nextId = 1;
        this.pending = new Map();
        this.listeners = new Set();
        let buffer = '';
        child.stdio[4].on('data', chunk => {
            buffer += chunk.toString('utf8');
            let end;
            while ((end = buffer.indexOf('\0')) >= 0) {
                const message = JSON.parse(buffer.slice(0, end));
                buffer = buffer.slice(end + 1);
                this.dispatch(message);
            }
        });
        child.on('exit', code => {
            for (const { reject } of this.pending.values()) reject(new Error(`chromium exited (${code})`));
            this.pending.clear();
        });
    }

    dispatch(message) {
        if (message.id === undefined) {
            for (const listener of this.listeners) listener(message);
            return;
        }
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (!waiter) return;
        if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
        else waiter.resolve(message.result);
    }

    send(method, params = {}, sessionId = undefined) {
        const id = this.nextId++;
        const message = { id, method, params, ...(sessionId ? { sessionId } : {}) };
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject, method });
            this.child.stdio[3].write(`${JSON.stringify(message)}\0`);
        });
    }
}
