// Unit tests of the registry module's parsing and policy code. The protocol flows run against
// the real distribution registry in test/e2e/registry; here: header grammars, references,
// credential files, token caching and the parts of the protocol distribution 2.8 lacks
// (tags pagination, the referrers API), fed with canned responses.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { digestOf, Redactor, type Digest } from '../core/index.js';
import {
  Authenticator,
  RegistryClient,
  RegistryError,
  RegistryRepository,
  apiHost,
  authKeys,
  createCredentialProvider,
  errorFromResponse,
  fallbackTag,
  isLoopbackHost,
  nextLink,
  normalizeScopes,
  parseChallenges,
  parseCopyReference,
  parsePlatform,
  parseRateLimit,
  parseReferrersIndex,
  parseRetryAfter,
  parseScope,
  parseUploadRange,
  pickChallenge,
  registryBaseUrl,
  scopesCover,
} from './index.js';

const D = (c: string) => `sha256:${c.repeat(64)}` as Digest;

describe('WWW-Authenticate', () => {
  test('quoted commas, several challenges, escapes; Bearer preferred', () => {
    const h = 'Basic realm="quay.io", Bearer realm="https://auth.example/token",service="registry.example",scope="repository:samalba/my-app:pull,push",error="insufficient_scope"';
    const cs = parseChallenges(h);
    assert.equal(cs.length, 2);
    assert.deepEqual(cs[0], { scheme: 'basic', params: { realm: 'quay.io' } });
    assert.deepEqual(cs[1]?.params, { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:samalba/my-app:pull,push', error: 'insufficient_scope' });
    assert.equal(pickChallenge(cs)?.scheme, 'bearer');
    assert.deepEqual(parseChallenges('Bearer realm="a\\"b", service=tok')[0]?.params, { realm: 'a"b', service: 'tok' });
    assert.equal(pickChallenge(parseChallenges('Negotiate abc==')), undefined);
  });

  test('scopes: host:port names, merging, coverage', () => {
    assert.deepEqual(parseScope('repository:localhost:5000/a/b:pull,push registry:catalog:*'), [
      { type: 'repository', name: 'localhost:5000/a/b', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.deepEqual(normalizeScopes(['repository:b:push', 'repository:a:pull', 'repository:b:pull']), ['repository:a:pull', 'repository:b:pull,push']);
    assert.equal(scopesCover(['repository:a:pull,push'], ['repository:a:pull']), true);
    assert.equal(scopesCover(['repository:a:pull'], ['repository:a:pull,push']), false);
    assert.equal(scopesCover(['repository:a:pull,push'], ['repository:a:pull', 'repository:b:pull']), false);
  });
});

describe('headers', () => {
  test('Docker Hub rate limits and Retry-After', () => {
    const h = new Headers({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '20;w=21600', 'docker-ratelimit-source': '192.0.2.1' });
    assert.deepEqual(parseRateLimit(h), { limit: 100, remaining: 20, windowSeconds: 21600, source: '192.0.2.1' });
    assert.equal(parseRateLimit(new Headers()), undefined);
    assert.equal(parseRetryAfter('7'), 7000);
    const now = new Date('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  test('Link rel=next, upload Range', () => {
    const base = new URL('http://r.example/v2/a/tags/list?n=2');
    assert.equal(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', base)?.toString(), 'http://r.example/v2/a/tags/list?n=2&last=b');
    assert.equal(nextLink('<https://other/x>; rel="prev"', base), undefined);
    assert.equal(parseUploadRange('0-1023'), 1024);
    assert.equal(parseUploadRange('0-0'), 0);
    assert.equal(parseUploadRange('bytes=0-9'), 10);
    assert.equal(parseUploadRange('junk'), undefined);
  });

  test('error bodies become RegistryErrors with spec codes, temporary flags and redacted URLs', () => {
    const body = new TextEncoder().encode(JSON.stringify({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry' }] }));
    const e = errorFromResponse(400, new Headers(), body, 'pushing manifest x');
    assert.equal(e.code, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(e.temporary, false);
    assert.match(e.message, /^pushing manifest x: HTTP 400 MANIFEST_BLOB_UNKNOWN: blob unknown/);
    const t = errorFromResponse(429, new Headers({ 'retry-after': '3' }), new Uint8Array(), 'pulling');
    assert.equal(t.code, 'TOOMANYREQUESTS');
    assert.equal(t.temporary, true);
    assert.equal(t.retryAfterMs, 3000);
    const odd = errorFromResponse(412, new Headers(), new TextEncoder().encode(JSON.stringify({ errors: [{ code: 'PROJECTPOLICYVIOLATION', message: 'see https://h/x?token=abc' }] })), 'tagging');
    assert.equal(odd.code, 'PRECONDITION');
    assert.equal(odd.registryCode, 'PROJECTPOLICYVIOLATION');
    assert.ok(!odd.message.includes('abc'));
    assert.equal(errorFromResponse(503, new Headers(), new TextEncoder().encode('<html>busy</html>'), 'x').temporary, true);
  });

  test('retry policy: exponential backoff; Retry-After honoured up to the cap', () => {
    const c = new RegistryClient({ retry: { baseDelayMs: 100, maxDelayMs: 1000, jitter: 0, maxRetryAfterMs: 5000 } });
    assert.deepEqual(c.retryDecision(new RegistryError('NETWORK', 'x', { temporary: true }), 3), { delayMs: 400 });
    assert.deepEqual(c.retryDecision(new RegistryError('TOOMANYREQUESTS', 'x', { temporary: true, retryAfterMs: 3000 }), 1), { delayMs: 3000 });
    assert.deepEqual(c.retryDecision(new RegistryError('TOOMANYREQUESTS', 'x', { temporary: true, retryAfterMs: 60_000 }), 1), { delayMs: 5000 });
    assert.equal(c.retryDecision(new RegistryError('DENIED', 'x'), 1), false);
  });
});

describe('references and endpoints', () => {
  test('oci: layouts and registry references', () => {
    assert.deepEqual(parseCopyReference('oci:/s/store:app-1.0', { cwd: '/x' }), { kind: 'layout', path: '/s/store', name: 'app-1.0' });
    assert.deepEqual(parseCopyReference('oci:rel', { cwd: '/x' }), { kind: 'layout', path: '/x/rel' });
    // Names lading build writes hold a ':' (skopeo's rule: the directory ends at the first one).
    assert.deepEqual(parseCopyReference('oci:.lading/store:hello-motd:latest', { cwd: '/x' }), { kind: 'layout', path: '/x/.lading/store', name: 'hello-motd:latest' });
    assert.deepEqual(parseCopyReference(`oci:/s:app:1@${D('b')}`), { kind: 'layout', path: '/s', name: 'app:1', digest: D('b') });
    assert.deepEqual(parseCopyReference(`oci:/s@${D('a')}`), { kind: 'layout', path: '/s', digest: D('a') });
    const r = parseCopyReference('docker://127.0.0.1:5000/a/b:1');
    assert.ok(r.kind === 'registry');
    assert.deepEqual(r.ref, { registry: '127.0.0.1:5000', repository: 'a/b', tag: '1' });
    const hub = parseCopyReference('debian', { defaultTag: null });
    assert.ok(hub.kind === 'registry');
    assert.deepEqual(hub.ref, { registry: 'docker.io', repository: 'library/debian' });
    assert.throws(() => parseCopyReference('Bad/Name'), (e: unknown) => e instanceof RegistryError && e.code === 'REFERENCE_INVALID');
    assert.throws(() => parseCopyReference('oci:/s:bad name'), (e: unknown) => e instanceof RegistryError && e.code === 'REFERENCE_INVALID');
  });

  test('loopback speaks plain HTTP, others HTTPS unless named insecure; Docker Hub API host', () => {
    for (const h of ['localhost:5000', '127.0.0.1:1', '127.1.2.3', '[::1]:5000']) assert.equal(isLoopbackHost(h), true, h);
    assert.equal(isLoopbackHost('10.0.0.1:5000'), false);
    assert.equal(registryBaseUrl('127.0.0.1:5000').protocol, 'http:');
    assert.equal(registryBaseUrl('ghcr.io').toString(), 'https://ghcr.io/');
    assert.equal(registryBaseUrl('reg.lan:5000', { insecure: ['reg.lan:5000'] }).protocol, 'http:');
    assert.equal(registryBaseUrl('quay.io', { plainHttp: true }).protocol, 'http:');
    assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
  });

  test('fallback tag and platforms', () => {
    assert.equal(fallbackTag(D('a')), `sha256-${'a'.repeat(64)}`);
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.throws(() => parsePlatform('linux'), /os\/arch/);
  });
});

describe('credentials', () => {
  test('auth file keys: podman namespaces most specific first, docker URL forms, the Hub key', () => {
    const keys = authKeys('reg.example:5000', 'ns/user/img');
    assert.deepEqual(keys.slice(0, 4), ['reg.example:5000/ns/user/img', 'reg.example:5000/ns/user', 'reg.example:5000/ns', 'reg.example:5000']);
    assert.ok(keys.includes('https://reg.example:5000'));
    assert.ok(authKeys('docker.io').includes('https://index.docker.io/v1/'));
  });

  test('config files: explicit wins, env next, then files; auth/username/identitytoken/registrytoken; secrets go to the redactor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lading-creds-'));
    try {
      const cfg = join(dir, 'docker');
      await mkdir(cfg);
      await writeFile(
        join(cfg, 'config.json'),
        JSON.stringify({
          auths: {
            'a.example': { auth: Buffer.from('u1:p:w:1').toString('base64') },
            'https://b.example': { username: 'u2', password: 'pw-two' },
            'c.example': { identitytoken: 'idtok-3' },
            'd.example': { registrytoken: 'regtok-4' },
            'https://index.docker.io/v1/': { auth: Buffer.from('hub:hubpw').toString('base64') },
          },
        }),
      );
      const redactor = new Redactor();
      const p = createCredentialProvider({ env: { DOCKER_CONFIG: cfg }, homeDir: dir, redactor });
      assert.deepEqual(await p('a.example'), { kind: 'basic', username: 'u1', password: 'p:w:1' });
      assert.deepEqual(await p('b.example'), { kind: 'basic', username: 'u2', password: 'pw-two' });
      assert.deepEqual(await p('c.example'), { kind: 'identity', token: 'idtok-3' });
      assert.deepEqual(await p('d.example'), { kind: 'bearer', token: 'regtok-4' });
      assert.deepEqual(await p('docker.io', 'library/debian'), { kind: 'basic', username: 'hub', password: 'hubpw' });
      assert.equal(await p('e.example'), undefined);
      assert.equal(redactor.redact('x pw-two idtok-3 y'), 'x REDACTED REDACTED y');
      const env = createCredentialProvider({ env: { DOCKER_CONFIG: cfg, LADING_REGISTRY_USER: 'envu', LADING_REGISTRY_PASSWORD: 'envp' }, homeDir: dir });
      assert.deepEqual(await env('a.example'), { kind: 'basic', username: 'envu', password: 'envp' });
      const explicit = createCredentialProvider({ env: { DOCKER_CONFIG: cfg }, homeDir: dir, explicit: { username: 'x', password: 'y' } });
      assert.deepEqual(await explicit('a.example'), { kind: 'basic', username: 'x', password: 'y' });
      await writeFile(join(cfg, 'config.json'), '{"auths": {"a.example": {"auth": "c2VjcmV0LXZhbHVl"}'); // truncated JSON
      const broken = await createCredentialProvider({ env: { DOCKER_CONFIG: cfg }, homeDir: dir })('a.example').catch((e: unknown) => e);
      assert.ok(broken instanceof RegistryError && broken.code === 'CREDENTIALS');
      assert.ok(!broken.message.includes('c2VjcmV0'), 'the file content is not echoed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A fetch answering from a list of handlers, recording requests (the canned side of a unit test). */
function cannedFetch(handler: (url: URL, init: RequestInit) => Response): { fetch: typeof fetch; seen: Array<{ url: string; auth: string | null }> } {
  const seen: Array<{ url: string; auth: string | null }> = [];
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    seen.push({ url: url.toString(), auth: new Headers(init.headers).get('authorization') });
    return handler(url, init);
  }) as typeof fetch;
  return { fetch: f, seen };
}

describe('protocol parts distribution 2.8 does not have (canned responses)', () => {
  test('tags/list follows Link pages', async () => {
    const { fetch, seen } = cannedFetch((url) => {
      const last = url.searchParams.get('last');
      const page = last === null ? ['a', 'b'] : last === 'b' ? ['c', 'd'] : ['e'];
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (page.length === 2) headers.link = `</v2/x/tags/list?n=2&last=${page[1]}>; rel="next"`;
      return new Response(JSON.stringify({ name: 'x', tags: page }), { status: 200, headers });
    });
    const repo = new RegistryRepository(new RegistryClient({ fetch }), '127.0.0.1:9', 'x');
    assert.deepEqual(await repo.listTags({ pageSize: 2 }), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(seen.length, 3);
  });

  test('referrers API: pages, artifactType filtered client-side unless OCI-Filters-Applied', async () => {
    const desc = (c: string, t: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D(c), size: 10, artifactType: t });
    const { fetch } = cannedFetch((url) => {
      const idx = (m: unknown[]) => JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: m });
      const h = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
      if (url.pathname.endsWith(D('0'))) return new Response(idx([]), { status: 200, headers: h });
      if (url.searchParams.get('page') === '2') return new Response(idx([desc('c', 'application/x.sbom')]), { status: 200, headers: h });
      return new Response(idx([desc('a', 'application/x.sig'), desc('b', 'application/x.sbom')]), { status: 200, headers: { ...h, link: `<${url.pathname}?page=2>; rel="next"` } });
    });
    const repo = new RegistryRepository(new RegistryClient({ fetch }), '127.0.0.1:9', 'x');
    assert.equal(await repo.referrersApiSupported(), true);
    const all = await repo.referrersFromApi(D('f'));
    assert.deepEqual(all?.map((d) => d.digest), [D('a'), D('b'), D('c')]);
    const sboms = await repo.referrersFromApi(D('f'), { artifactType: 'application/x.sbom' });
    assert.deepEqual(sboms?.map((d) => d.digest), [D('b'), D('c')]);
    assert.throws(() => parseReferrersIndex(new TextEncoder().encode('{"manifests": 3}'), 'referrers'), /not an image index/);
  });

  test('Bearer tokens are cached per scope set until they expire, and refetched after', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    let tokens = 0;
    const { fetch } = cannedFetch(() => {
      tokens++;
      return new Response(JSON.stringify({ token: `tok-${tokens}`, expires_in: 300, issued_at: new Date(now).toISOString() }), { status: 200 });
    });
    const auth = new Authenticator({ fetch, clock: { now: () => new Date(now) } });
    const target = { origin: 'http://r', registry: 'r', scopes: ['repository:a:pull,push'] };
    assert.equal(await auth.challenge(target, 'Bearer realm="http://auth/token",service="r"', undefined), true);
    assert.equal(await auth.header(target), 'Bearer tok-1');
    assert.equal(await auth.header({ ...target, scopes: ['repository:a:pull'] }), 'Bearer tok-1', 'a push token also serves pulls');
    assert.equal(await auth.header({ ...target, scopes: ['repository:b:pull'] }), 'Bearer tok-2');
    now += 295_000; // within the 10 s margin of expiry
    assert.equal(await auth.header(target), 'Bearer tok-3');
    assert.equal(auth.stats.tokenRequests, 3);
  });

  test('blob reads are verified: a registry serving other bytes is caught', async () => {
    const data = new TextEncoder().encode('the real content');
    const { fetch } = cannedFetch(() => new Response('tampered content', { status: 200 }));
    const repo = new RegistryRepository(new RegistryClient({ fetch }), '127.0.0.1:9', 'x');
    await assert.rejects(repo.readBlob({ mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length }), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_MISMATCH');
  });
});
