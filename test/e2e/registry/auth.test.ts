// Authentication against the real distribution registry: htpasswd (Basic) and `auth: token`
// (Bearer, issuer in test code); credentials from --creds, env, docker config.json (auths,
// credHelpers, credsStore, identitytoken), podman auth.json and a credential-helper program.
// Also: no secret printed, logged or stored; no Authorization sent to a redirect's other origin.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../helpers/store.js';
import { openLayout, type LayoutStore } from '../../../src/layout/index.js';
import type { ManifestDocument } from '../../../src/oci/index.js';
import { RegistryClient, RegistryError, RegistryRepository, copyImages, createCredentialProvider, type CredentialSourceOptions } from '../../../src/registry/index.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import { startRegistry, type RegistryHandle } from '../../helpers/registry.js';
import { layerOf, missingContent, writeImage } from './fixtures.js';

const ALICE = { username: 'alice', password: 'alice-Secret-pw-1' };
const BOB = { username: 'bob', password: 'bob-Secret-pw-2' };

let basic: RegistryHandle;
let token: RegistryHandle;
let dir: string;
let store: LayoutStore;
let img: ManifestDocument;

before(async () => {
  [basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd', users: [ALICE] }), startRegistry({ auth: 'token', users: [BOB] })]);
  dir = await mkdtemp(join(tmpdir(), 'lading-auth-e2e-'));
  store = await openLayout({ path: join(dir, 'src'), create: true });
  img = await writeImage(store, { layers: [await layerOf({ 'auth.txt': 'auth' })], tag: 'v1', label: 'auth' });
});
after(async () => {
  await basic?.stop();
  await token?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function client(options: CredentialSourceOptions): RegistryClient {
  return new RegistryClient({ credentials: createCredentialProvider({ homeDir: join(dir, 'nohome'), env: {}, ...options }) });
}

async function copyTo(c: RegistryClient, host: string, repoName: string, tag = 'v1') {
  return copyImages([{ source: store, reference: 'v1', destination: new RegistryRepository(c, host, repoName), tags: [tag] }]);
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { cwd: dir, env: { PATH: process.env.PATH, HOME: join(dir, 'nohome'), ...env }, cleanEnv: true });
}

/** Every file under `root`, as text. */
async function allText(root: string): Promise<string> {
  let text = '';
  for (const e of await readdir(root, { recursive: true })) {
    const p = join(root, e);
    if ((await stat(p)).isFile()) text += await readFile(p, 'latin1');
  }
  return text;
}

describe('htpasswd (Basic) registry', () => {
  test('anonymous and wrong credentials fail with a clear UNAUTHORIZED; explicit credentials work', async () => {
    const anon = await copyTo(new RegistryClient(), basic.host, 'b/app');
    assert.equal(anon.ok, false);
    assert.equal(anon.images[0]?.errorCode, 'UNAUTHORIZED');
    assert.match(anon.images[0]?.error ?? '', /no credentials for this registry/);
    const wrong = await copyTo(client({ explicit: { username: 'alice', password: 'nope' } }), basic.host, 'b/app');
    assert.equal(wrong.images[0]?.errorCode, 'UNAUTHORIZED');
    assert.match(wrong.images[0]?.error ?? '', /credentials were refused/);
    const ok = await copyTo(client({ explicit: ALICE }), basic.host, 'b/app');
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.images[0]?.digest, img.digest);
  });

  test('docker config.json auths (DOCKER_CONFIG) and LADING_REGISTRY_USER/PASSWORD', async () => {
    const cfg = join(dir, 'docker-basic');
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64') } } }));
    const r = await copyTo(client({ env: { DOCKER_CONFIG: cfg } }), basic.host, 'b/cfg');
    assert.equal(r.ok, true, JSON.stringify(r));
    const viaEnv = await cli(['--json', 'inspect', `${basic.host}/b/cfg:v1`], { LADING_REGISTRY_USER: ALICE.username, LADING_REGISTRY_PASSWORD: ALICE.password });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal((JSON.parse(viaEnv.stdout) as { digest: string }).digest, img.digest);
  });

  test('a blob redirect to another origin never receives the Authorization header', async () => {
    assert.equal((await copyTo(client({ explicit: ALICE }), basic.host, 'b/redir')).ok, true);
    const proxy = await startFaultProxy({ upstream: basic.url, redirectBlobs: true });
    try {
      const out = await openLayout({ path: join(dir, 'redir-out'), create: true });
      const c = client({ explicit: ALICE });
      const r = await copyImages([{ source: new RegistryRepository(c, proxy.host, 'b/redir'), reference: 'v1', destination: out, tags: ['v1'] }]);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(proxy.stats.redirected, 2);
      assert.equal(proxy.redirectRequests.length, 2);
      for (const h of proxy.redirectRequests) assert.equal(h.authorization, undefined, 'credentials leaked to the redirect target');
      assert.deepEqual(await missingContent(out, 'v1'), []);
    } finally {
      await proxy.stop();
    }
  });
});

describe('token (Bearer) registry', () => {
  test('podman auth.json (REGISTRY_AUTH_FILE, namespace key): tokens cached; a mount asks one token for both repositories', async () => {
    const file = join(dir, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { [`${token.host}/t`]: { auth: Buffer.from(`${BOB.username}:${BOB.password}`).toString('base64') } } }));
    const c = client({ env: { REGISTRY_AUTH_FILE: file } });
    const issuer = token.issuer;
    assert.ok(issuer);
    const before = issuer.requests.length;
    const r = await copyTo(c, token.host, 't/one');
    assert.equal(r.ok, true, JSON.stringify(r));
    const first = issuer.requests.slice(before);
    assert.ok(first.length >= 1 && first.length <= 2, `token requests for one push: ${JSON.stringify(first)}`);
    assert.ok(first.every((q) => q.user === 'bob'));
    const again = issuer.requests.length;
    const m = await copyImages([{ source: new RegistryRepository(c, token.host, 't/one'), reference: 'v1', destination: new RegistryRepository(c, token.host, 't/two'), tags: ['v1'] }]);
    assert.equal(m.ok, true, JSON.stringify(m));
    assert.equal(m.images[0]?.blobs.mounted, 2);
    const mountToken = issuer.requests.slice(again).find((q) => q.scopes.includes('repository:t/one:pull') && q.scopes.includes('repository:t/two:pull,push'));
    assert.ok(mountToken, `a token covering both repositories: ${JSON.stringify(issuer.requests.slice(again))}`);
    assert.ok(c.authStats.tokenCacheHits > 5, `cache hits ${c.authStats.tokenCacheHits}`);
  });

  test('credential-helper programs: credHelpers and credsStore; "not found" means anonymous', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const log = join(dir, 'helper.log');
    const script = `#!/bin/sh
read url
echo "$1 $url" >> ${log}
if [ "$1" = get ] && [ "$url" = "${token.host}" ]; then
  printf '{"ServerURL":"%s","Username":"${BOB.username}","Secret":"${BOB.password}"}' "$url"
  exit 0
fi
echo "credentials not found in native keychain"
exit 1
`;
    await writeFile(join(bin, 'docker-credential-ladingtest'), script);
    await chmod(join(bin, 'docker-credential-ladingtest'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const perHost = join(dir, 'docker-helpers');
    await mkdir(perHost, { recursive: true });
    await writeFile(join(perHost, 'config.json'), JSON.stringify({ credHelpers: { [token.host]: 'ladingtest' } }));
    const r = await copyTo(client({ env: { ...env, DOCKER_CONFIG: perHost } }), token.host, 't/helper');
    assert.equal(r.ok, true, JSON.stringify(r));
    const store2 = join(dir, 'docker-store');
    await mkdir(store2, { recursive: true });
    await writeFile(join(store2, 'config.json'), JSON.stringify({ credsStore: 'ladingtest' }));
    const r2 = await copyTo(client({ env: { ...env, DOCKER_CONFIG: store2 } }), token.host, 't/helper2');
    assert.equal(r2.ok, true, JSON.stringify(r2));
    // The helper knows nothing for another host: anonymous, and the registry refuses.
    const other = await createCredentialProvider({ env: { ...env, DOCKER_CONFIG: store2 }, homeDir: join(dir, 'nohome') })('127.0.0.9:1');
    assert.equal(other, undefined);
    assert.match(await readFile(log, 'utf8'), new RegExp(`get ${token.host.replace(/\./g, '\\.')}`));
    const missing = await createCredentialProvider({ env: { PATH: '/nonexistent', DOCKER_CONFIG: store2 }, homeDir: join(dir, 'nohome') })(token.host).catch((e: unknown) => e);
    assert.ok(missing instanceof RegistryError && missing.code === 'CREDENTIALS' && /not found in PATH/.test(missing.message));
  });

  test('identity tokens (config.json identitytoken) use the OAuth2 refresh_token grant', async () => {
    const issuer = token.issuer;
    assert.ok(issuer);
    const res = await fetch(issuer.realm, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: BOB.username, password: BOB.password, service: 'lading-test-registry', client_id: 'test', access_type: 'offline' }).toString(),
    });
    const { refresh_token: refresh } = (await res.json()) as { refresh_token: string };
    assert.ok(refresh);
    const cfg = join(dir, 'docker-identity');
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, 'config.json'), JSON.stringify({ auths: { [token.host]: { identitytoken: refresh } } }));
    const before = issuer.requests.length;
    const r = await copyTo(client({ env: { DOCKER_CONFIG: cfg } }), token.host, 't/identity');
    assert.equal(r.ok, true, JSON.stringify(r));
    const used = issuer.requests.slice(before);
    assert.ok(used.length > 0 && used.every((q) => q.method === 'POST' && q.grantType === 'refresh_token' && q.user === 'bob'), JSON.stringify(used));
  });

  test('no secret is printed, logged or stored: a --verbose copy with credentials, both ways', async () => {
    const issuer = token.issuer;
    assert.ok(issuer);
    const up = await cli(['--verbose', 'copy', '--creds', `${BOB.username}:${BOB.password}`, `oci:${join(dir, 'src')}:v1`, `${token.host}/t/secret:v1`]);
    assert.equal(up.code, 0, up.stderr);
    const down = await cli(['--verbose', '--json', 'copy', '--creds', `${BOB.username}:${BOB.password}`, `${token.host}/t/secret:v1`, `oci:${join(dir, 'secret-out')}:v1`]);
    assert.equal(down.code, 0, down.stderr);
    const failed = await cli(['--verbose', 'copy', '--creds', `${BOB.username}:wrong-${BOB.password}`, `oci:${join(dir, 'src')}:v1`, `${token.host}/t/secret2:v1`]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr + failed.stdout, /credentials refused/);
    assert.ok(up.stderr.includes('debug'), 'verbose output was produced');
    const printed = [up, down, failed].map((o) => o.stdout + o.stderr).join('\n');
    const stored = await allText(join(dir, 'secret-out'));
    const secrets = [BOB.password, ...issuer.accessTokens, ...issuer.refreshTokens];
    assert.ok(issuer.accessTokens.size > 0);
    for (const s of secrets) {
      assert.ok(!printed.includes(s), 'a secret was printed');
      assert.ok(!stored.includes(s), 'a secret was stored');
    }
    assert.ok(!printed.includes(Buffer.from(`${BOB.username}:${BOB.password}`).toString('base64')), 'Basic credentials printed');
  });
});
