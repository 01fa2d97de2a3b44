// Where credentials come from (registry.md §6.6-6.7): explicit `--creds`, environment, podman's
// auth.json, docker's config.json (`auths`, `credsStore`, `credHelpers`) and credential-helper
// programs (`docker-credential-<name> get`). Secrets are handed to the Redactor and never logged.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errnoCode, nullLogger, parseJson, type Logger, type Redactor } from '../core/index.js';
import { DOCKER_HUB } from '../oci/index.js';
import { RegistryError } from './errors.js';

/** A credential for one registry. */
export type Credential =
  /** User name and password (or personal access token), sent as Basic or to the token endpoint. */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** An identity (OAuth2 refresh) token: `identitytoken` in config.json, or a helper's `<token>` user. */
  | { readonly kind: 'identity'; readonly username?: string; readonly token: string }
  /** A bearer token used as is (`registrytoken`). */
  | { readonly kind: 'bearer'; readonly token: string };

/** Looks up the credential for a registry host (and repository, for podman's namespace keys). */
export type CredentialProvider = (registry: string, repository?: string, options?: { signal?: AbortSignal }) => Promise<Credential | undefined>;

/** Options for createCredentialProvider. */
export interface CredentialSourceOptions {
  /** Environment (DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME, PATH, LADING_REGISTRY_USER/PASSWORD). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Home directory. Default env.HOME or os.homedir(). */
  homeDir?: string;
  /** Used for every registry, before anything else (`--creds user:pass`). */
  explicit?: { username: string; password: string };
  /** One auth file instead of the default search (`--authfile`, REGISTRY_AUTH_FILE). */
  authFile?: string;
  /** Time limit for one credential-helper run. Default 10 s. */
  helperTimeoutMs?: number;
  /** Learns every secret found so logs never show it. */
  redactor?: Redactor;
  logger?: Logger;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: unknown;
  credHelpers?: Record<string, unknown>;
}

const HUB_KEY = 'https://index.docker.io/v1/';
const HUB_ALIASES = [DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io'];

function isHub(registry: string): boolean {
  return HUB_ALIASES.includes(registry);
}

/** Parses `user:password` (the password may contain colons). */
export function parseCredentialPair(text: string, what = '--creds'): { username: string; password: string } {
  const i = text.indexOf(':');
  if (i <= 0) throw new RegistryError('CREDENTIALS', `${what}: want user:password`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/**
 * The keys an auth file may use for `registry[/repository]`, most specific first: podman
 * namespaces (`reg/ns/img` → `reg/ns` → `reg`), then docker's URL forms.
 */
export function authKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  const hosts = isHub(registry) ? [DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io'] : [registry];
  if (repository) {
    const parts = repository.split('/');
    for (let n = parts.length; n >= 1; n--) {
      for (const h of hosts) keys.push(`${h}/${parts.slice(0, n).join('/')}`);
    }
  }
  if (isHub(registry)) keys.push(HUB_KEY);
  for (const h of hosts) keys.push(h, `https://${h}`, `http://${h}`, `https://${h}/v1/`, `https://${h}/v2/`);
  return keys;
}

/** The server URL a credential helper is asked about: docker's Hub key, else the host. */
export function helperServerUrl(registry: string): string {
  return isHub(registry) ? HUB_KEY : registry;
}

function decodeEntry(entry: AuthEntry, what: string): Credential | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) {
    const username = typeof entry.username === 'string' ? entry.username : undefined;
    return { kind: 'identity', token: entry.identitytoken, ...(username ? { username } : {}) };
  }
  if (typeof entry.registrytoken === 'string' && entry.registrytoken) return { kind: 'bearer', token: entry.registrytoken };
  if (typeof entry.auth === 'string' && entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = text.indexOf(':');
    if (i <= 0) throw new RegistryError('CREDENTIALS', `${what}: "auth" is not base64 of user:password`);
    return { kind: 'basic', username: text.slice(0, i), password: text.slice(i + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username) {
    return { kind: 'basic', username: entry.username, password: entry.password };
  }
  return undefined;
}

async function readAuthFile(path: string, legacy: boolean): Promise<AuthFile | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw new RegistryError('CREDENTIALS', `reading credentials file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = parseJson(raw, `credentials file ${path}`, 4 << 20);
  } catch (err) {
    // NOTE: the parse error message may quote file content; keep only its position.
    throw new RegistryError('CREDENTIALS', `credentials file ${path}: invalid JSON`, { cause: err instanceof Error ? new Error('invalid JSON') : undefined });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new RegistryError('CREDENTIALS', `credentials file ${path}: not a JSON object`);
  // ~/.dockercfg is the bare `auths` object.
  return legacy ? { auths: json as Record<string, AuthEntry> } : (json as AuthFile);
}

/** Options for runCredentialHelper. */
export interface CredentialHelperOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs `docker-credential-<name> get` with the server URL on stdin (docker-credential-helpers
 * protocol). "credentials not found" answers undefined; other failures throw CREDENTIALS.
 * Its output is never logged: on success it holds the secret.
 */
export function runCredentialHelper(name: string, serverUrl: string, options: CredentialHelperOptions = {}): Promise<Credential | undefined> {
  const program = `docker-credential-${name}`;
  const what = `credential helper ${program} (get ${serverUrl})`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return Promise.reject(new RegistryError('CREDENTIALS', `${what}: invalid helper name`));
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: options.timeoutMs ?? 10_000,
      killSignal: 'SIGKILL',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => {
      const why = errnoCode(err) === 'ENOENT' ? 'program not found in PATH' : errnoCode(err) === 'ABORT_ERR' ? 'aborted' : err.message;
      reject(new RegistryError('CREDENTIALS', `${what}: ${why}`));
    });
    child.on('close', (code, signal) => {
      const out = Buffer.concat(chunks).toString('utf8');
      if (signal) {
        reject(new RegistryError('CREDENTIALS', `${what}: killed by ${signal} (timeout ${options.timeoutMs ?? 10_000} ms?)`));
        return;
      }
      if (code !== 0) {
        if (/credentials not found/i.test(out)) resolve(undefined);
        else reject(new RegistryError('CREDENTIALS', `${what}: exit status ${code}`));
        return;
      }
      let parsed: { Username?: unknown; Secret?: unknown };
      try {
        parsed = JSON.parse(out) as { Username?: unknown; Secret?: unknown };
      } catch {
        reject(new RegistryError('CREDENTIALS', `${what}: output is not JSON`));
        return;
      }
      if (typeof parsed.Secret !== 'string' || typeof parsed.Username !== 'string') {
        reject(new RegistryError('CREDENTIALS', `${what}: output lacks Username/Secret`));
        return;
      }
      if (!parsed.Secret) resolve(undefined);
      else if (parsed.Username === '<token>') resolve({ kind: 'identity', token: parsed.Secret });
      else resolve({ kind: 'basic', username: parsed.Username, password: parsed.Secret });
    });
    child.stdin.end(`${serverUrl}\n`);
  });
}

/** The files searched, in order (containers-auth.json(5) order, with DOCKER_CONFIG first when set). */
export function credentialFiles(options: CredentialSourceOptions = {}): Array<{ path: string; legacy: boolean }> {
  const env = options.env ?? process.env;
  const file = options.authFile ?? env.REGISTRY_AUTH_FILE;
  if (file) return [{ path: file, legacy: false }];
  const home = options.homeDir ?? env.HOME ?? homedir();
  const out: Array<{ path: string; legacy: boolean }> = [];
  if (env.DOCKER_CONFIG) out.push({ path: join(env.DOCKER_CONFIG, 'config.json'), legacy: false });
  if (env.XDG_RUNTIME_DIR) out.push({ path: join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'), legacy: false });
  out.push({ path: join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'), legacy: false });
  if (!env.DOCKER_CONFIG) out.push({ path: join(home, '.docker', 'config.json'), legacy: false });
  out.push({ path: join(home, '.dockercfg'), legacy: true });
  return out;
}

/**
 * A CredentialProvider over explicit credentials, LADING_REGISTRY_USER/LADING_REGISTRY_PASSWORD,
 * then the auth files (credHelpers, then auths entries, then credsStore). Results are memoised
 * per registry and repository; none found means anonymous.
 */
export function createCredentialProvider(options: CredentialSourceOptions = {}): CredentialProvider {
  const env = options.env ?? process.env;
  const logger = options.logger ?? nullLogger;
  const cache = new Map<string, Promise<Credential | undefined>>();
  const remember = (c: Credential | undefined): Credential | undefined => {
    if (c?.kind === 'basic') options.redactor?.add(c.password);
    if (c?.kind === 'identity' || c?.kind === 'bearer') options.redactor?.add(c.token);
    return c;
  };

  const lookup = async (registry: string, repository: string | undefined, signal?: AbortSignal): Promise<Credential | undefined> => {
    if (options.explicit) return { kind: 'basic', ...options.explicit };
    if (env.LADING_REGISTRY_USER && env.LADING_REGISTRY_PASSWORD !== undefined) {
      return { kind: 'basic', username: env.LADING_REGISTRY_USER, password: env.LADING_REGISTRY_PASSWORD };
    }
    const helperOpts = { env, timeoutMs: options.helperTimeoutMs ?? 10_000, ...(signal ? { signal } : {}) };
    const keys = authKeys(registry, repository);
    for (const { path, legacy } of credentialFiles(options)) {
      const file = await readAuthFile(path, legacy);
      if (!file) continue;
      const helpers = file.credHelpers ?? {};
      for (const key of keys) {
        const helper = helpers[key];
        if (typeof helper === 'string' && helper) {
          logger.debug(`credentials for ${registry}: credential helper ${helper} (credHelpers in ${path})`);
          return runCredentialHelper(helper, helperServerUrl(registry), helperOpts);
        }
      }
      for (const key of keys) {
        const entry = file.auths?.[key];
        if (entry && typeof entry === 'object') {
          const cred = decodeEntry(entry, `credentials file ${path}, auths[${JSON.stringify(key)}]`);
          if (cred) {
            logger.debug(`credentials for ${registry}: ${path} auths[${JSON.stringify(key)}] (${cred.kind})`);
            return cred;
          }
        }
      }
      if (typeof file.credsStore === 'string' && file.credsStore) {
        logger.debug(`credentials for ${registry}: credential helper ${file.credsStore} (credsStore in ${path})`);
        const cred = await runCredentialHelper(file.credsStore, helperServerUrl(registry), helperOpts);
        if (cred) return cred;
      }
    }
    return undefined;
  };

  return (registry, repository, o = {}) => {
    const key = `${registry}/${repository ?? ''}`;
    let p = cache.get(key);
    if (!p) {
      p = lookup(registry, repository, o.signal).then(remember);
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  };
}
