// Starts the real distribution registry (Debian package docker-registry, `docker-registry serve
// CONFIG`) on 127.0.0.1 with a free port and a config written here: no auth, htpasswd Basic auth,
// or `auth: token` trusting a token issuer that also runs here (distribution token.md/jwt.md:
// ES256 JWT whose x5c certificate is in the registry's rootcertbundle).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A free TCP port on 127.0.0.1 (bound and released; the tiny race is acceptable in tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Throws a clear message when a program the registry tests need is missing. */
export async function requireProgram(name: string, hint: string): Promise<void> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
  } catch {
    throw new Error(`${name} is not installed (${hint}); run scripts/bootstrap`);
  }
}

/** One user of a test registry. */
export interface TestUser {
  username: string;
  password: string;
}

/** Options for startRegistry. */
export interface StartRegistryOptions {
  /** `none` (default), `htpasswd` (Basic) or `token` (Bearer, with an issuer started here). */
  auth?: 'none' | 'htpasswd' | 'token';
  users?: TestUser[];
  /** Token lifetime the issuer grants, seconds. Default 300. */
  tokenTtlSeconds?: number;
  /** Where the registry keeps its files. Default the OS temp dir; a tmpfs (/dev/shm) takes disk writeback out of timings. */
  dataRoot?: string;
}

/** A running registry. */
export interface RegistryHandle {
  /** `127.0.0.1:PORT`, the registry part of references. */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  /** The token issuer, for `auth: token`. */
  readonly issuer?: TokenIssuer;
  /** The registry's log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

async function waitReady(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited (${proc.exitCode}): ${log()}`);
    try {
      const r = await fetch(`${url}/v2/`);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not start within 15 s: ${log()}`);
}

/** Starts a registry with a config of its own; `stop()` kills it and removes its data. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RegistryHandle> {
  await requireProgram('docker-registry', 'Debian package docker-registry');
  const dir = await mkdtemp(join(options.dataRoot ?? tmpdir(), 'lading-registry-'));
  const port = await freePort();
  const users = options.users ?? [];
  let authYaml = '';
  let issuer: TokenIssuer | undefined;
  if (options.auth === 'htpasswd') {
    await requireProgram('htpasswd', 'Debian package apache2-utils');
    const lines: string[] = [];
    for (const u of users) {
      const { stdout } = await run('htpasswd', ['-nbB', '-C', '4', u.username, u.password]);
      lines.push(stdout.trim());
    }
    await writeFile(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: lading-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (options.auth === 'token') {
    issuer = await startTokenIssuer({ users, service: 'lading-test-registry', issuer: 'lading-test-issuer', ttlSeconds: options.tokenTtlSeconds ?? 300 });
    authYaml = `auth:\n  token:\n    realm: ${issuer.realm}\n    service: lading-test-registry\n    issuer: lading-test-issuer\n    rootcertbundle: ${issuer.certPath}\n`;
  }
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: lading-test-secret-${randomBytes(8).toString('hex')}
${authYaml}`;
  await writeFile(join(dir, 'config.yml'), config);
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer) => {
    if (log.length < 200_000) log += d.toString('utf8');
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, proc, () => log);
  } catch (err) {
    proc.kill('SIGKILL');
    await issuer?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    dataDir: join(dir, 'data'),
    ...(issuer ? { issuer } : {}),
    log: () => log,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      await issuer?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One token request as the issuer saw it. */
export interface TokenRequest {
  method: string;
  grantType: string;
  user: string | undefined;
  scopes: string[];
  service: string | undefined;
  /** The Authorization header carried a password (Basic) or a refresh token. */
  authenticated: boolean;
}

/** Options for startTokenIssuer. */
export interface TokenIssuerOptions {
  users: TestUser[];
  service: string;
  issuer: string;
  ttlSeconds: number;
}

/** A token service in the style of docker/distribution's token.md and oauth.md. */
export interface TokenIssuer {
  readonly realm: string;
  readonly certPath: string;
  readonly requests: TokenRequest[];
  /** Refresh tokens handed out (to check they never leak). */
  readonly refreshTokens: Set<string>;
  /** Access tokens handed out. */
  readonly accessTokens: Set<string>;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function jwt(key: KeyObject, x5c: string, claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }));
  const body = b64url(JSON.stringify(claims));
  const sig = sign('sha256', Buffer.from(`${header}.${body}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${header}.${body}.${b64url(sig)}`;
}

/**
 * Starts a token issuer: GET `?service&scope` with Basic credentials (token.md), and POST
 * form grants `password` and `refresh_token` (oauth.md). Known users get pull+push on every
 * repository; anonymous callers get nothing, so the registry refuses them.
 */
export async function startTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  await requireProgram('openssl', 'Debian package openssl');
  const dir = await mkdtemp(join(tmpdir(), 'lading-token-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=lading-test-token-issuer']);
  const key = createPrivateKey(await readFile(keyPath));
  const x5c = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  const requests: TokenRequest[] = [];
  const refreshTokens = new Map<string, string>();
  const accessTokens = new Set<string>();
  const userOf = (auth: string | undefined): string | undefined => {
    if (!auth?.startsWith('Basic ')) return undefined;
    const text = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const i = text.indexOf(':');
    const u = options.users.find((x) => x.username === text.slice(0, i) && x.password === text.slice(i + 1));
    return u?.username;
  };
  const issue = (res: ServerResponse, user: string | undefined, scopes: string[], offline: boolean) => {
    const access = user
      ? scopes.flatMap((s) => {
          const first = s.indexOf(':');
          const last = s.lastIndexOf(':');
          if (first < 0 || last === first) return [];
          return [{ type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter((a) => a === 'pull' || a === 'push' || a === 'delete') }];
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const token = jwt(key, x5c, { iss: options.issuer, sub: user ?? '', aud: options.service, exp: now + options.ttlSeconds, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access });
    accessTokens.add(token);
    const body: Record<string, unknown> = { token, access_token: token, expires_in: options.ttlSeconds, issued_at: new Date(now * 1000).toISOString() };
    if (offline && user) {
      const rt = `rt-${randomBytes(12).toString('hex')}`;
      refreshTokens.set(rt, user);
      body.refresh_token = rt;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server: Server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'GET') {
      const user = userOf(req.headers.authorization);
      const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      requests.push({ method: 'GET', grantType: 'basic', user, scopes, service: url.searchParams.get('service') ?? undefined, authenticated: user !== undefined });
      if (req.headers.authorization && !user) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
        return;
      }
      issue(res, user, scopes, url.searchParams.get('offline_token') === 'true');
      return;
    }
    if (req.method === 'POST') {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (text += d));
      req.on('end', () => {
        const form = new URLSearchParams(text);
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const grant = form.get('grant_type') ?? '';
        let user: string | undefined;
        if (grant === 'refresh_token') user = refreshTokens.get(form.get('refresh_token') ?? '');
        else if (grant === 'password') user = options.users.find((u) => u.username === form.get('username') && u.password === form.get('password'))?.username;
        requests.push({ method: 'POST', grantType: grant, user, scopes, service: form.get('service') ?? undefined, authenticated: user !== undefined });
        if (!user || !form.get('client_id') || form.get('service') !== options.service) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
          return;
        }
        issue(res, user, scopes, grant === 'password' ? form.get('access_type') === 'offline' : true);
      });
      return;
    }
    res.writeHead(405).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certPath,
    requests,
    accessTokens,
    get refreshTokens() {
      return new Set(refreshTokens.keys());
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Minimal skopeo policy accepting anything, written to a file (skopeo copy refuses to run without a policy). */
export async function writeSkopeoPolicy(dir: string): Promise<string> {
  const path = join(dir, 'policy.json');
  await writeFile(path, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  return path;
}

/** Runs skopeo with its output captured; throws with stderr on failure. */
export async function skopeo(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run('skopeo', args, { env, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}
