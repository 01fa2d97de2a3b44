import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebianError } from './errors.js';
import { createPackageFetcher } from './fetcher.js';
import { createTransport } from './http.js';
import type { LockedAptPackage } from './lock.js';

// A real HTTP server: which files were requested, in which order, and held answers to see
// what the fetcher starts while others are still downloading.

let dir: string;
let server: Server;
let root = '';
const requests: string[] = [];
const held = new Map<string, ServerResponse>();
let hold = false;
const missing = new Set<string>();
let caches = 0;

const body = (name: string) => Buffer.from(`contents of ${name}\n`.repeat(50));

function pkg(name: string): LockedAptPackage {
  const b = body(name);
  return {
    name,
    version: '1.0-1',
    architecture: 'amd64',
    source: name,
    sourceVersion: '1.0-1',
    filename: `pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb`,
    size: b.length,
    sha256: createHash('sha256').update(b).digest('hex'),
    uri: root,
    suite: 'bookworm',
    component: 'main',
    essential: false,
    reason: 'requested',
    depends: [],
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lading-fetcher-'));
  server = createServer((req, res) => {
    const name = (req.url ?? '').split('/').pop()?.split('_')[0] ?? '';
    requests.push(name);
    if (missing.has(name)) {
      res.writeHead(404);
      res.end('not here');
    } else if (hold) held.set(name, res);
    else res.end(body(name));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  root = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/debian/`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

function reset(): ReturnType<typeof createTransport> {
  requests.length = 0;
  missing.clear();
  hold = false;
  caches++;
  return createTransport({ cacheDir: join(dir, `cache-${caches}`), retries: 0 });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached in 5 s');
}

function release(name: string): void {
  const res = held.get(name);
  assert.ok(res, `${name} is not being downloaded`);
  held.delete(name);
  res.end(body(name));
}

test('prefetched files download once each; a fetch reuses them and goes first', async () => {
  const transport = reset();
  const f = createPackageFetcher({ transport, concurrency: 1 });
  const [a, b, c] = [pkg('alpha'), pkg('bravo'), pkg('charlie')];
  f.prefetch([a, b]);
  f.prefetch([b, c]);
  const got = await f.fetch([c, a]);
  // alpha was under way; charlie, asked for, went before bravo.
  assert.deepEqual(requests, ['alpha', 'charlie']);
  await f.close();
  assert.deepEqual(requests, ['alpha', 'charlie', 'bravo']);
  assert.deepEqual(got.map((g) => g.package.name), ['charlie', 'alpha']);
  for (const g of got) assert.equal(createHash('sha256').update(await readFile(g.path)).digest('hex'), g.package.sha256);
  // Downloaded during this run, by the prefetch.
  assert.deepEqual(got.map((g) => g.cached), [false, false]);
  // A second fetcher over the same cache finds them there.
  const again = await createPackageFetcher({ transport }).fetch([a]);
  assert.equal(again[0]?.cached, true);
  assert.equal(requests.length, 3);
});

test('a file an image waits for goes ahead of the background queue', async () => {
  const transport = reset();
  hold = true;
  const f = createPackageFetcher({ transport, concurrency: 1 });
  f.prefetch(['delta', 'echo', 'foxtrot', 'golf'].map(pkg));
  await until(() => held.has('delta'));
  const waiting = f.fetch([pkg('golf')]);
  release('delta');
  await until(() => held.has('golf'));
  release('golf');
  const [g] = await waiting;
  assert.equal(g?.package.name, 'golf');
  await until(() => held.has('echo'));
  release('echo');
  await until(() => held.has('foxtrot'));
  release('foxtrot');
  await f.close();
  assert.deepEqual(requests, ['delta', 'golf', 'echo', 'foxtrot']);
});

test('a failed download reaches the image that needs it, and the next fetch tries again', async () => {
  const transport = reset();
  missing.add('hotel');
  const f = createPackageFetcher({ transport, concurrency: 2 });
  f.prefetch([pkg('hotel'), pkg('india')]);
  await assert.rejects(f.fetch([pkg('india'), pkg('hotel')]), (err: unknown) => {
    assert.ok(err instanceof DebianError);
    assert.match(err.message, /hotel_1\.0-1_amd64\.deb/);
    return true;
  });
  missing.clear();
  const got = await f.fetch([pkg('hotel')]);
  assert.equal(got[0]?.cached, false);
  // hotel and india started together (either may reach the server first); hotel then once more.
  assert.deepEqual([...requests].sort(), ['hotel', 'hotel', 'india']);
  assert.equal(requests.at(-1), 'hotel');
  await f.close();
});

test('offline, nothing is prefetched and a fetch lists every missing file', async () => {
  reset();
  const transport = createTransport({ cacheDir: join(dir, `cache-${caches}`), offline: true });
  const f = createPackageFetcher({ transport });
  f.prefetch([pkg('juliet')]);
  await assert.rejects(f.fetch([pkg('juliet'), pkg('kilo')]), (err: unknown) => {
    assert.ok(err instanceof DebianError);
    assert.equal(err.code, 'OFFLINE_MISSING');
    assert.match(err.message, /juliet=1\.0-1[\s\S]*kilo=1\.0-1/);
    return true;
  });
  assert.deepEqual(requests, []);
  await f.close();
});

test('close drops what is queued, waits for what runs, and a waiting fetch fails clearly', async () => {
  const transport = reset();
  hold = true;
  const f = createPackageFetcher({ transport, concurrency: 1 });
  f.prefetch([pkg('lima'), pkg('mike')]);
  const waiting = assert.rejects(f.fetch([pkg('mike')]), /closed before this file was downloaded/);
  await until(() => held.has('lima'));
  const closing = f.close();
  release('lima');
  await closing;
  await waiting;
  assert.deepEqual(requests, ['lima']);
  await assert.rejects(f.fetch([pkg('lima')]), /closed/);
});

test('an aborted fetch stops waiting', async () => {
  const transport = reset();
  hold = true;
  const f = createPackageFetcher({ transport, concurrency: 1 });
  const ac = new AbortController();
  const waiting = f.fetch([pkg('november')], { signal: ac.signal });
  await until(() => held.has('november'));
  ac.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  release('november');
  await f.close();
});
