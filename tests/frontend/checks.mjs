// The data-provider checks shared by the Node run (run-node.mjs) and the browser page (page.mjs).
//
// They drive react-admin's `ra-data-json-server` and refine's `@refinedev/simple-rest` exactly as the
// admin front ends do, against a jsonserve started on a fresh copy of fixture.json, and compare what
// the providers return with what json-server 0.17 gives for the same data. The checks run in order
// (reads first, then writes), so they need a fresh copy of the fixture for every run.
//
// The providers are used unchanged: react-admin gets a pass-through wrapper around its own
// `fetchUtils.fetchJson` and refine a request interceptor on its own axios instance, both only to
// record the requests for the failure report.

import jsonServerProvider from 'ra-data-json-server';
import { fetchUtils } from 'ra-core';
import refineDataProvider, { axiosInstance } from '@refinedev/simple-rest';

const ALL_POST_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
// fixture.json's posts ordered by views, highest first (views are all distinct).
const BY_VIEWS_DESC = [4, 8, 5, 2, 10, 12, 6, 7, 3, 9, 11, 1];

class Mismatch extends Error {}

function canonical(value) {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object') {
        return Object.fromEntries(Object.keys(value).sort().map(key => [key, canonical(value[key])]));
    }
    return value;
}

function same(actual, expected) {
    return JSON.stringify(canonical(actual)) === JSON.stringify(canonical(expected));
}

function expectEqual(actual, expected, what) {
    if (!same(actual, expected)) {
        throw new Mismatch(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
}

function expectTrue(condition, what) {
    if (!condition) throw new Mismatch(what);
}

const idsOf = records => {
    expectTrue(Array.isArray(records), `expected an array of records, got ${JSON.stringify(records)}`);
    return records.map(record => record.id);
};

async function expectRejection(promise, status, what) {
    let error;
    try {
        await promise;
    } catch (caught) {
        error = caught;
    }
    expectTrue(error !== undefined, `${what}: expected an error with status ${status}, but the call succeeded`);
    const actual = error.status ?? error.statusCode ?? error.response?.status;
    expectEqual(actual, status, `${what}: error status`);
}

function describeError(error) {
    if (error instanceof Mismatch) return error.message;
    const status = error?.status ?? error?.statusCode ?? error?.response?.status;
    const body = error?.body ?? error?.response?.data;
    // refine's axios interceptor rejects with a plain object whose `message` is the body's `message`.
    const parts = [String(error?.message ?? error?.code ?? (error instanceof Error ? error : JSON.stringify(error)))];
    if (status !== undefined) parts.push(`status ${status}`);
    if (body !== undefined) parts.push(`body ${JSON.stringify(body)}`);
    if (error?.stack && status === undefined) parts.push(error.stack.split('\n').slice(0, 4).join(' | '));
    return parts.join('; ');
}

/**
 * Run every check against `api` (a jsonserve base URL serving a fresh copy of fixture.json).
 * `inBrowser` adds the checks that only mean something in a page from another origin.
 * Returns {passed: [names], failed: [{name, message, requests}]}.
 */
export async function runChecks(api, { log = () => {}, inBrowser = false } = {}) {
    const trace = [];
    const httpClient = (url, options = {}) => {
        trace.push(`${options.method ?? 'GET'} ${url}`);
        return fetchUtils.fetchJson(url, options);
    };
    axiosInstance.interceptors.request.use(config => {
        trace.push(`${String(config.method).toUpperCase()} ${config.url}`);
        return config;
    });
    const ra = jsonServerProvider(api, httpClient);
    const refine = refineDataProvider(api);

    const passed = [];
    const failed = [];
    const check = async (name, body) => {
        trace.length = 0;
        try {
            await body();
            passed.push(name);
            log(`ok   ${name}`);
        } catch (error) {
            const failure = { name, message: describeError(error), requests: [...trace] };
            failed.push(failure);
            log(`FAIL ${name}: ${failure.message}\n       requests: ${failure.requests.join(' ; ') || '(none)'}`);
        }
    };
    const raList = (params, resource = 'posts') =>
        ra.getList(resource, { pagination: { page: 1, perPage: 50 }, sort: { field: 'id', order: 'ASC' }, filter: {}, ...params });
    const refineList = (params, resource = 'posts') => refine.getList({ resource, ...params });

    // ---------------------------------------------------------------- react-admin: reads
    await check('ra getList: page 2 of 5, sorted by id ASC, total from X-Total-Count', async () => {
        const { data, total } = await raList({ pagination: { page: 2, perPage: 5 } });
        expectEqual(idsOf(data), [6, 7, 8, 9, 10], 'ids');
        expectEqual(total, 12, 'total');
        expectEqual(data[0], { id: 6, title: 'Refine and REST', body: 'Body of post 6', views: 140, published: false, userId: 3 }, 'first record');
    });
    await check('ra getList: sorted by views DESC, first page of 3', async () => {
        const { data, total } = await raList({ pagination: { page: 1, perPage: 3 }, sort: { field: 'views', order: 'DESC' } });
        expectEqual(idsOf(data), BY_VIEWS_DESC.slice(0, 3), 'ids');
        expectEqual(total, 12, 'total');
    });
    await check('ra getList: last, partial page', async () => {
        const { data, total } = await raList({ pagination: { page: 3, perPage: 5 } });
        expectEqual(idsOf(data), [11, 12], 'ids');
        expectEqual(total, 12, 'total');
    });
    await check('ra getList: filter published=true (typed equality on a boolean)', async () => {
        const { data, total } = await raList({ filter: { published: true } });
        expectEqual(idsOf(data), [1, 2, 4, 5, 7, 9, 10, 12], 'ids');
        expectEqual(total, 8, 'total');
    });
    await check('ra getList: full-text filter q=LOREM (title of 3, body of 10)', async () => {
        const { data, total } = await raList({ filter: { q: 'LOREM' } });
        expectEqual(idsOf(data), [3, 10], 'ids');
        expectEqual(total, 2, 'total');
    });
    await check('ra getList: filters views_gte=100 and userId=2, paged', async () => {
        const { data, total } = await raList({ filter: { views_gte: 100, userId: 2 }, pagination: { page: 1, perPage: 2 } });
        expectEqual(idsOf(data), [2, 5], 'ids');
        expectEqual(total, 3, 'total');
    });
    await check('ra getList: title_like=^re (case-insensitive pattern)', async () => {
        const { data, total } = await raList({ filter: { title_like: '^re' } });
        expectEqual(idsOf(data), [5, 6], 'ids');
        expectEqual(total, 2, 'total');
    });
    await check('ra getList: array filter id=[1,3,5] (repeated key = OR)', async () => {
        const { data, total } = await raList({ filter: { id: [1, 3, 5] }, sort: { field: 'id', order: 'DESC' } });
        expectEqual(idsOf(data), [5, 3, 1], 'ids');
        expectEqual(total, 3, 'total');
    });
    await check('ra getList: nested filter object is flattened to a dotted path', async () => {
        const { data, total } = await raList({ filter: { user: { name: 'nobody' } } });
        // no post has a `user` object: jsonserve's "a filter on a missing field matches nothing"
        expectEqual(idsOf(data), [], 'ids');
        expectEqual(total, 0, 'total');
    });
    await check('ra getOne', async () => {
        const { data } = await ra.getOne('posts', { id: 3 });
        expectEqual(data, { id: 3, title: 'Lorem ipsum dolor', body: 'Body of post 3', views: 75, published: false, userId: 1 }, 'record');
    });
    await check('ra getOne with meta.embed=comments', async () => {
        const { data } = await ra.getOne('posts', { id: 3, meta: { embed: 'comments' } });
        expectEqual(idsOf(data.comments ?? null), [5, 6], 'embedded comment ids');
    });
    await check('ra getOne of a missing record rejects with HttpError 404', async () => {
        await expectRejection(ra.getOne('posts', { id: 999 }), 404, 'getOne posts/999');
    });
    await check('ra getMany (?id=2&id=7&id=11)', async () => {
        const { data } = await ra.getMany('posts', { ids: [2, 7, 11] });
        expectEqual(idsOf(data).sort((a, b) => a - b), [2, 7, 11], 'ids');
    });
    await check('ra getMany with meta.embed=comments', async () => {
        const { data } = await ra.getMany('posts', { ids: [1, 2], meta: { embed: 'comments' } });
        expectEqual(data.map(post => [post.id, idsOf(post.comments)]), [[1, [1, 2, 3]], [2, [4]]], 'posts with comments');
    });
    await check('ra getManyReference comments of post 1, sorted id DESC, page 1 of 2', async () => {
        const { data, total } = await ra.getManyReference('comments', {
            target: 'postId', id: 1, pagination: { page: 1, perPage: 2 }, sort: { field: 'id', order: 'DESC' }, filter: {},
        });
        expectEqual(idsOf(data), [3, 2], 'ids');
        expectEqual(total, 3, 'total');
    });
    await check('ra getManyReference with an extra filter', async () => {
        const { data, total } = await ra.getManyReference('comments', {
            target: 'postId', id: 1, pagination: { page: 1, perPage: 10 }, sort: { field: 'id', order: 'ASC' }, filter: { votes_gte: 2 },
        });
        expectEqual(idsOf(data), [2, 3], 'ids');
        expectEqual(total, 2, 'total');
    });

    // ---------------------------------------------------------------- refine: reads
    await check('refine getList: page 2 of 4, sorters views desc', async () => {
        const { data, total } = await refineList({ pagination: { currentPage: 2, pageSize: 4 }, sorters: [{ field: 'views', order: 'desc' }] });
        expectEqual(idsOf(data), BY_VIEWS_DESC.slice(4, 8), 'ids');
        expectEqual(total, 12, 'total');
    });
    await check('refine getList: two sorters (userId asc, views desc)', async () => {
        const { data, total } = await refineList({
            pagination: { currentPage: 1, pageSize: 20 },
            sorters: [{ field: 'userId', order: 'asc' }, { field: 'views', order: 'desc' }],
        });
        expectEqual(idsOf(data), [10, 7, 3, 1, 8, 5, 2, 11, 4, 12, 6, 9], 'ids');
        expectEqual(total, 12, 'total');
    });
    await check('refine getList: filter eq (userId = 2)', async () => {
        const { data, total } = await refineList({ filters: [{ field: 'userId', operator: 'eq', value: 2 }], sorters: [{ field: 'id', order: 'asc' }] });
        expectEqual(idsOf(data), [2, 5, 8, 11], 'ids');
        expectEqual(total, 4, 'total');
    });
    await check('refine getList: filter ne (published != true)', async () => {
        const { data, total } = await refineList({ filters: [{ field: 'published', operator: 'ne', value: true }], sorters: [{ field: 'id', order: 'asc' }] });
        expectEqual(idsOf(data), [3, 6, 8, 11], 'ids');
        expectEqual(total, 4, 'total');
    });
    await check('refine getList: filters gte + lte (100 <= views <= 400)', async () => {
        const { data, total } = await refineList({
            filters: [{ field: 'views', operator: 'gte', value: 100 }, { field: 'views', operator: 'lte', value: 400 }],
            sorters: [{ field: 'id', order: 'asc' }],
        });
        expectEqual(idsOf(data), [2, 5, 6, 10, 12], 'ids');
        expectEqual(total, 5, 'total');
    });
    await check('refine getList: filter contains -> title_like (case-insensitive)', async () => {
        const { data, total } = await refineList({ filters: [{ field: 'title', operator: 'contains', value: 'POST' }], sorters: [{ field: 'id', order: 'asc' }] });
        expectEqual(idsOf(data), [2, 7, 12], 'ids');
        expectEqual(total, 3, 'total');
    });
    await check('refine getList: q full-text filter, with another filter', async () => {
        const { data, total } = await refineList({
            filters: [{ field: 'q', operator: 'eq', value: 'lorem' }, { field: 'published', operator: 'eq', value: true }],
        });
        expectEqual(idsOf(data), [10], 'ids');
        expectEqual(total, 1, 'total');
    });
    await check('refine getList: pagination mode off (no X-Total-Count, total = length)', async () => {
        const { data, total } = await refineList({
            pagination: { mode: 'off' }, filters: [{ field: 'userId', operator: 'eq', value: 3 }], sorters: [{ field: 'id', order: 'asc' }],
        });
        expectEqual(idsOf(data), [4, 6, 9, 12], 'ids');
        expectEqual(total, 4, 'total');
    });
    await check('refine getList: default pagination (10 per page)', async () => {
        const { data, total } = await refineList({});
        expectEqual(idsOf(data), ALL_POST_IDS.slice(0, 10), 'ids');
        expectEqual(total, 12, 'total');
    });
    await check('refine getOne', async () => {
        const { data } = await refine.getOne({ resource: 'users', id: 2 });
        expectEqual(data, { id: 2, name: 'Brian', email: 'brian@example.com' }, 'record');
    });
    await check('refine getOne of a missing record rejects with statusCode 404', async () => {
        await expectRejection(refine.getOne({ resource: 'posts', id: 999 }), 404, 'getOne posts/999');
    });
    await check('refine getMany', async () => {
        const { data } = await refine.getMany({ resource: 'posts', ids: [12, 1] });
        expectEqual(idsOf(data).sort((a, b) => a - b), [1, 12], 'ids');
    });
    await check('refine custom GET with sorters, filters and query', async () => {
        const { data } = await refine.custom({
            url: `${api}/posts`,
            method: 'get',
            sorters: [{ field: 'views', order: 'asc' }],
            filters: [{ field: 'published', operator: 'eq', value: false }],
            query: { _start: 0, _end: 3 },
        });
        expectEqual(idsOf(data), [11, 3, 6], 'ids');
    });
    await check('refine custom GET without parameters (url ending in "?")', async () => {
        const { data } = await refine.custom({ url: `${api}/users`, method: 'get' });
        expectEqual(idsOf(data), [1, 2, 3], 'ids');
    });

    // ---------------------------------------------------------------- custom request headers
    // Both providers document sending extra headers; from a page on another origin each one is
    // preflighted (Access-Control-Request-Headers), and json-server 0.17 and 1.x allow any.
    await check('ra with the README\'s httpClient adding X-Custom-Header', async () => {
        const withHeader = jsonServerProvider(api, (url, options = {}) => {
            if (!options.headers) options.headers = new Headers({ Accept: 'application/json' });
            options.headers.set('X-Custom-Header', 'foobar');
            return httpClient(url, options);
        });
        const { data, total } = await withHeader.getList('users', { pagination: { page: 1, perPage: 2 }, sort: { field: 'id', order: 'ASC' }, filter: {} });
        expectEqual(idsOf(data), [1, 2], 'ids');
        expectEqual(total, 3, 'total');
    });
    await check('refine getList with meta.headers (x-meta-data)', async () => {
        const { data, total } = await refineList({ meta: { headers: { 'x-meta-data': 'true' } }, pagination: { currentPage: 1, pageSize: 2 } }, 'users');
        expectEqual(idsOf(data), [1, 2], 'ids');
        expectEqual(total, 3, 'total');
    });

    // ---------------------------------------------------------------- raw CORS-visible headers
    await check('list headers X-Total-Count, Link and ETag are readable', async () => {
        const response = await fetch(`${api}/posts?_page=2&_limit=5`);
        expectEqual(response.status, 200, 'status');
        expectEqual(response.headers.get('x-total-count'), '12', 'X-Total-Count');
        const link = response.headers.get('link') ?? '';
        for (const rel of ['first', 'prev', 'next', 'last']) expectTrue(link.includes(`rel="${rel}"`), `Link has rel="${rel}": ${link}`);
        expectTrue(/^"[^"]+"$/.test(response.headers.get('etag') ?? ''), `strong ETag readable, got ${response.headers.get('etag')}`);
    });
    if (inBrowser) {
        await check('the page and the API are on different origins', async () => {
            expectTrue(new URL(api).origin !== globalThis.location.origin, `page ${globalThis.location.origin} vs API ${api}`);
        });
        await check('a write with a text/plain body (a CORS simple request) is refused', async () => {
            const response = await fetch(`${api}/comments`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"postId":1}' });
            expectEqual(response.status, 415, 'status');
        });
    }

    // ---------------------------------------------------------------- react-admin: writes
    let created;
    await check('ra create', async () => {
        const before = await raList({ pagination: { page: 1, perPage: 5 } });
        expectEqual(before.total, 12, 'total before');
        const post = { title: 'Created by react-admin', body: 'new', views: 1, published: false, userId: 1 };
        const { data } = await ra.create('posts', { data: post });
        expectTrue(Number.isInteger(data.id) && !ALL_POST_IDS.includes(data.id), `a new integer id, got ${JSON.stringify(data.id)}`);
        expectEqual(data, { ...post, id: data.id }, 'created record');
        created = data.id;
        // Same URL, same body as before the create, only the total changed: in a browser this is a
        // revalidation (If-None-Match -> 304) whose new X-Total-Count must reach the provider.
        const after = await raList({ pagination: { page: 1, perPage: 5 } });
        expectEqual(idsOf(after.data), [1, 2, 3, 4, 5], 'ids after');
        expectEqual(after.total, 13, 'total after');
        expectEqual((await ra.getOne('posts', { id: created })).data, { ...post, id: created }, 'getOne after create');
    });
    await check('ra update (PUT replaces the record)', async () => {
        expectTrue(created !== undefined, 'needs the record from "ra create"');
        const record = { id: created, title: 'Updated by react-admin', views: 2, published: true, userId: 2 };
        const { data } = await ra.update('posts', { id: created, data: record, previousData: {} });
        expectEqual(data, record, 'update response');
        expectEqual((await ra.getOne('posts', { id: created })).data, record, 'getOne after update');
    });
    await check('ra updateMany (one PUT per id)', async () => {
        const { data } = await ra.updateMany('posts', { ids: [11, 12], data: { published: true, title: 'Bulk' } });
        expectEqual(data, [11, 12], 'updated ids');
        const { data: records } = await ra.getMany('posts', { ids: [11, 12] });
        expectEqual(records, [{ id: 11, published: true, title: 'Bulk' }, { id: 12, published: true, title: 'Bulk' }], 'records after PUT');
    });
    await check('ra delete', async () => {
        expectTrue(created !== undefined, 'needs the record from "ra create"');
        const { data } = await ra.delete('posts', { id: created, previousData: { id: created } });
        expectEqual(data, {}, 'delete response (json-server 0.17 answers {})');
        await expectRejection(ra.getOne('posts', { id: created }), 404, 'getOne after delete');
    });
    await check('ra deleteMany (one DELETE per id; comments cascade as in json-server 0.17)', async () => {
        const { data } = await ra.deleteMany('posts', { ids: [10, 12] });
        expectEqual(data.length, 2, 'one result per id');
        expectEqual((await ra.getMany('posts', { ids: [10, 12] })).data, [], 'getMany after deleteMany');
        const { total } = await ra.getManyReference('comments', {
            target: 'postId', id: 10, pagination: { page: 1, perPage: 10 }, sort: { field: 'id', order: 'ASC' }, filter: {},
        });
        expectEqual(total, 0, 'comments of a deleted post');
        expectEqual((await raList({}, 'comments')).total, 7, 'comments left');
    });

    // ---------------------------------------------------------------- refine: writes
    let refineId;
    await check('refine create', async () => {
        const post = { title: 'Created by refine', body: 'hello', views: 7, published: true, userId: 3 };
        const { data } = await refine.create({ resource: 'posts', variables: post });
        expectTrue(Number.isInteger(data.id) && !ALL_POST_IDS.includes(data.id), `a new integer id, got ${JSON.stringify(data.id)}`);
        expectEqual(data, { ...post, id: data.id }, 'created record');
        refineId = data.id;
    });
    await check('refine update (PATCH merges)', async () => {
        expectTrue(refineId !== undefined, 'needs the record from "refine create"');
        const { data } = await refine.update({ resource: 'posts', id: refineId, variables: { title: 'Patched by refine', views: 8 } });
        const expected = { id: refineId, title: 'Patched by refine', body: 'hello', views: 8, published: true, userId: 3 };
        expectEqual(data, expected, 'update response');
        expectEqual((await refine.getOne({ resource: 'posts', id: refineId })).data, expected, 'getOne after update');
    });
    await check('refine update with meta.method=put', async () => {
        expectTrue(refineId !== undefined, 'needs the record from "refine create"');
        const { data } = await refine.update({ resource: 'posts', id: refineId, variables: { title: 'Put by refine' }, meta: { method: 'put' } });
        expectEqual(data, { id: refineId, title: 'Put by refine' }, 'update response');
    });
    await check('refine deleteOne', async () => {
        expectTrue(refineId !== undefined, 'needs the record from "refine create"');
        const { data } = await refine.deleteOne({ resource: 'posts', id: refineId });
        expectEqual(data, {}, 'delete response (json-server 0.17 answers {})');
        await expectRejection(refine.getOne({ resource: 'posts', id: refineId }), 404, 'getOne after deleteOne');
    });
    await check('refine custom POST, PATCH, PUT and DELETE', async () => {
        const { data: comment } = await refine.custom({ url: `${api}/comments`, method: 'post', payload: { postId: 1, body: 'custom', votes: 0 } });
        expectTrue(Number.isInteger(comment.id), `created comment id, got ${JSON.stringify(comment)}`);
        const url = `${api}/comments/${comment.id}`;
        const { data: patched } = await refine.custom({ url, method: 'patch', payload: { votes: 5 } });
        expectEqual(patched, { id: comment.id, postId: 1, body: 'custom', votes: 5 }, 'patched');
        const { data: replaced } = await refine.custom({ url, method: 'put', payload: { postId: 2, body: 'replaced' } });
        expectEqual(replaced, { id: comment.id, postId: 2, body: 'replaced' }, 'replaced');
        const { data: deleted } = await refine.custom({ url, method: 'delete', payload: {} });
        expectEqual(deleted, {}, 'delete response');
        await expectRejection(refine.getOne({ resource: 'comments', id: comment.id }), 404, 'getOne after custom delete');
    });
    await check('Location header of a create is readable', async () => {
        const response = await fetch(`${api}/users`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'Dora' }),
        });
        expectEqual(response.status, 201, 'status');
        const record = await response.json();
        expectEqual(response.headers.get('location'), `${api}/users/${record.id}`, 'Location');
    });

    return { passed, failed };
}
