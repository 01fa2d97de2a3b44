import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { execFile } from 'node:child_process';
import { getMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DebianError } from './errors.js';
import { createTransport, fetchRevalidated, fetchToCache } from './http.js';

// The default client is node:http (not the global fetch); these pin the fetch behaviours it has to
// keep: redirects followed, credentials sent only to the origin they were given for.

const execFileP = promisify(execFile);

let dir: string;
const servers: Server[] = [];
const seen: Array<{ server: string; path: string; headers: IncomingHttpHeaders }> = [];
let a = '';
let b = '';

async function serve(name: string, handler: (path: string, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    seen.push({ server: name, path: req.url ?? '', headers: req.headers });
    handler(req.url ?? '', res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lading-http-'));
  b = await serve('b', (path, res) => {
    res.end(`b${path}`);
  });
  a = await serve('a', (path, res) => {
    const go = (to: string) => {
      res.writeHead(302, { location: to });
      res.end('moved');
    };
    if (path === '/same') go('/target');
    else if (path === '/cross') go(`${b}/target`);
    else if (path === '/loop') go('/loop');
    else if (path === '/permanent') {
      res.writeHead(308, { location: 'target' });
      res.end();
    } else res.end(`a${path}`);
  });
});

after(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const withCreds = (url: string) => url.replace('http://', 'http://user:secret@');
const transport = () => createTransport({ cacheDir: join(dir, `cache-${seen.length}`), retries: 0 });

test('redirects are followed; credentials go along only while the origin stays the same', async () => {
  seen.length = 0;
  const same = await fetchRevalidated(transport(), withCreds(`${a}/same`), 'same');
  assert.equal(same?.data.toString(), 'a/target');
  const basic = `Basic ${Buffer.from('user:secret').toString('base64')}`;
  assert.deepEqual(
    seen.map((s) => [s.server, s.path, s.headers.authorization]),
    [
      ['a', '/same', basic],
      ['a', '/target', basic],
    ],
  );
  seen.length = 0;
  const cross = await fetchRevalidated(transport(), withCreds(`${a}/cross`), 'cross');
  assert.equal(cross?.data.toString(), 'b/target');
  assert.deepEqual(
    seen.map((s) => [s.server, s.path, s.headers.authorization]),
    [
      ['a', '/cross', basic],
      ['b', '/target', undefined],
    ],
  );
  assert.equal(seen[1]!.headers['user-agent'], 'lading');
  const relative = await fetchRevalidated(transport(), `${a}/permanent`, 'permanent');
  assert.equal(relative?.data.toString(), 'a/target', 'a relative Location resolves against the current URL (308 too)');
});

test('a redirect loop ends in an error naming the file, after 20 hops', async () => {
  seen.length = 0;
  await assert.rejects(fetchRevalidated(transport(), `${a}/loop`, 'dists/x/InRelease'), (e: unknown) => e instanceof DebianError && e.code === 'FETCH_FAILED' && /^dists\/x\/InRelease: cannot reach .*more than 20 redirects/.test(e.message));
  assert.equal(seen.length, 21);
});

test('a cache on a read-only file system is CACHE_WRITE_FAILED, not a network failure, and is not retried', { skip: process.getuid?.() !== 0 ? 'needs root (a read-only bind mount)' : false }, async (t) => {
  const cacheDir = join(dir, 'cache-read-only');
  await mkdir(cacheDir);
  await execFileP('mount', ['--bind', cacheDir, cacheDir]);
  t.after(() => execFileP('umount', [cacheDir]));
  await execFileP('mount', ['-o', 'remount,bind,ro', cacheDir]);
  const body = 'b/x.deb'; // what server b answers for /x.deb
  const before = seen.length;
  const transport = createTransport({ cacheDir, retries: 2, retryDelayMs: 1 });
  const expected = { sha256: createHash('sha256').update(body).digest('hex'), size: body.length, what: 'pool/main/x/x_1_all.deb' };
  await assert.rejects(fetchToCache(transport, [`${b}/x.deb`], expected), (err: unknown) => {
    assert.ok(err instanceof DebianError, String(err));
    assert.equal(err.code, 'CACHE_WRITE_FAILED');
    assert.match(err.message, /^writing .*cache-read-only\/blobs\/.* into the apt cache: a directory cannot be made \(a read-only file system, or a missing parent\)$/);
    return true;
  });
  assert.equal(seen.length - before, 1, 'one request: a local failure is not retried');
});

test("the run's signal may hold an abort listener per download in flight without Node's leak warning", () => {
  const signal = new AbortController().signal;
  createTransport({ cacheDir: join(dir, 'cache-listeners'), signal });
  assert.ok(getMaxListeners(signal) >= 64, String(getMaxListeners(signal)));
});
