// Registry authentication (registry.md §6): Basic, and the Bearer token flow of distribution's
// token.md/oauth.md. Tokens are cached per (realm, service) and scope set until they expire;
// a token whose scopes cover a request is reused, so one push token also serves pulls.
import { nullLogger, systemClock, type Clock, type Logger, type Redactor } from '../core/index.js';
import { normalizeScopes, parseChallenges, pickChallenge, scopesCover, type Challenge } from './challenge.js';
import type { Credential, CredentialProvider } from './credentials.js';
import { RegistryError, isTemporaryStatus } from './errors.js';
import { parseRetryAfter } from './ratelimit.js';

/** Options for an Authenticator. */
export interface AuthenticatorOptions {
  fetch: typeof fetch;
  credentials?: CredentialProvider;
  clock?: Clock;
  logger?: Logger;
  redactor?: Redactor;
  /** OAuth2 `client_id` (oauth.md). Default `lading`. */
  clientId?: string;
  userAgent?: string;
  /** Seconds before expiry a token stops being used. Default 10. */
  expiryMarginSeconds?: number;
}

type HostScheme = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined };

interface CachedToken {
  token: string;
  scopes: string[];
  expiresAt: number;
}

/** Counts of token traffic, for tests and `--verbose`. */
export interface AuthStats {
  tokenRequests: number;
  tokenCacheHits: number;
}

/** What a request needs to be authorised. */
export interface AuthTarget {
  /** Origin of the registry API (`https://host:port`); credentials are only ever sent there. */
  origin: string;
  /** Registry name as the user wrote it (the key for credential lookups). */
  registry: string;
  repository?: string;
  /** Scopes the request needs (`repository:name:pull,push`). */
  scopes: readonly string[];
  signal?: AbortSignal;
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** Holds what each registry asked for and the tokens obtained; one per client. */
export class Authenticator {
  readonly stats: AuthStats = { tokenRequests: 0, tokenCacheHits: 0 };
  private readonly options: AuthenticatorOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly hosts = new Map<string, HostScheme>();
  private readonly tokens = new Map<string, CachedToken[]>();
  private readonly refreshTokens = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();

  constructor(options: AuthenticatorOptions) {
    this.options = options;
    this.logger = options.logger ?? nullLogger;
    this.clock = options.clock ?? systemClock;
  }

  private credential(t: AuthTarget): Promise<Credential | undefined> {
    return this.options.credentials ? this.options.credentials(t.registry, t.repository, t.signal ? { signal: t.signal } : {}) : Promise.resolve(undefined);
  }

  /** The Authorization header for a request, when the registry's scheme is already known. */
  async header(t: AuthTarget): Promise<string | undefined> {
    const host = this.hosts.get(t.origin);
    if (!host) return undefined;
    const cred = await this.credential(t);
    if (host.scheme === 'basic') {
      return cred?.kind === 'basic' ? basicHeader(cred.username, cred.password) : undefined;
    }
    if (cred?.kind === 'bearer') return `Bearer ${cred.token}`;
    const tok = await this.token(host.realm, host.service, normalizeScopes(t.scopes), cred, t.signal);
    return `Bearer ${tok.token}`;
  }

  /**
   * Learns from a 401's WWW-Authenticate header. True when a retry with new authorization may
   * succeed; false when there is nothing more to try (then the 401 stands).
   * `sent` is the Authorization value the failed request carried.
   */
  async challenge(t: AuthTarget, wwwAuthenticate: string | null, sent: string | undefined): Promise<boolean> {
    const picked: Challenge | undefined = wwwAuthenticate ? pickChallenge(parseChallenges(wwwAuthenticate)) : undefined;
    if (!picked) return false;
    const cred = await this.credential(t);
    if (picked.scheme === 'basic') {
      const had = this.hosts.get(t.origin)?.scheme === 'basic';
      this.hosts.set(t.origin, { scheme: 'basic' });
      // Retry only if this request went out without the credential we now know to send.
      return cred?.kind === 'basic' && !(had && sent !== undefined);
    }
    const realm = picked.params.realm;
    if (!realm) throw new RegistryError('AUTH', `authenticating to ${t.registry}: Bearer challenge without realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new RegistryError('AUTH', `authenticating to ${t.registry}: invalid token realm ${JSON.stringify(realm)}`);
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      throw new RegistryError('AUTH', `authenticating to ${t.registry}: token realm must be http(s), got ${realmUrl.protocol}`);
    }
    const service = picked.params.service;
    this.hosts.set(t.origin, { scheme: 'bearer', realm, service });
    if (cred?.kind === 'bearer') return sent === undefined;
    const wanted = normalizeScopes([...t.scopes, ...(picked.params.scope ? picked.params.scope.split(' ') : [])]);
    if (sent?.startsWith('Bearer ')) {
      // The token we sent was refused (expired, revoked, or a partial grant): never reuse it.
      this.forget(realm, service, sent.slice(7));
    }
    await this.token(realm, service, wanted, cred, t.signal, sent !== undefined);
    return true;
  }

  private cacheKey(realm: string, service: string | undefined): string {
    return `${realm}\n${service ?? ''}`;
  }

  private forget(realm: string, service: string | undefined, token: string): void {
    const key = this.cacheKey(realm, service);
    const list = this.tokens.get(key);
    if (list) this.tokens.set(key, list.filter((c) => c.token !== token));
  }

  private async token(realm: string, service: string | undefined, scopes: string[], cred: Credential | undefined, signal?: AbortSignal, fresh = false): Promise<CachedToken> {
    const key = this.cacheKey(realm, service);
    const now = this.clock.now().getTime();
    const margin = (this.options.expiryMarginSeconds ?? 10) * 1000;
    if (!fresh) {
      const hit = (this.tokens.get(key) ?? []).find((c) => c.expiresAt - margin > now && scopesCover(c.scopes, scopes));
      if (hit) {
        this.stats.tokenCacheHits++;
        return hit;
      }
    }
    const flightKey = `${key}\n${scopes.join(' ')}`;
    let p = this.inflight.get(flightKey);
    if (!p) {
      p = this.fetchToken(realm, service, scopes, cred, signal).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, p);
    }
    const tok = await p;
    const list = (this.tokens.get(key) ?? []).filter((c) => c.expiresAt - margin > now && c.token !== tok.token);
    list.push(tok);
    this.tokens.set(key, list);
    return tok;
  }

  private async fetchToken(realm: string, service: string | undefined, scopes: string[], cred: Credential | undefined, signal?: AbortSignal): Promise<CachedToken> {
    const key = this.cacheKey(realm, service);
    const what = `getting a token from ${new URL(realm).origin}${new URL(realm).pathname} for ${scopes.join(' ') || '(no scope)'}`;
    const refresh = this.refreshTokens.get(key) ?? (cred?.kind === 'identity' ? cred.token : undefined);
    this.stats.tokenRequests++;
    if (refresh) {
      // oauth.md: POST form with grant_type=refresh_token; a 404 means the server only has the GET flow.
      const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: this.options.clientId ?? 'lading' });
      if (service) body.set('service', service);
      if (scopes.length) body.set('scope', scopes.join(' '));
      const res = await this.send(realm, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() }, what, signal);
      if (res.ok) return this.readToken(res, key, scopes, what);
      await res.body?.cancel().catch(() => undefined);
      // 5xx: the service is down, the GET flow would fail too. Anything else: try GET.
      if (isTemporaryStatus(res.status)) throw this.tokenError(res, what);
      this.logger.debug(`${what}: OAuth2 POST answered ${res.status}; trying the GET flow`);
      this.refreshTokens.delete(key);
    }
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (cred?.kind === 'basic') headers.authorization = basicHeader(cred.username, cred.password);
    else if (cred?.kind === 'identity') headers.authorization = basicHeader(cred.username ?? '<token>', cred.token);
    const res = await this.send(url.toString(), { method: 'GET', headers }, what, signal);
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw this.tokenError(res, what);
    }
    return this.readToken(res, key, scopes, what);
  }

  private async send(url: string, init: { method: string; headers: Record<string, string>; body?: string }, what: string, signal?: AbortSignal): Promise<Response> {
    try {
      return await this.options.fetch(url, {
        ...init,
        headers: { ...init.headers, ...(this.options.userAgent ? { 'user-agent': this.options.userAgent } : {}) },
        redirect: 'error',
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw new RegistryError('ABORTED', `${what}: aborted`, { cause: signal.reason });
      throw new RegistryError('NETWORK', `${what}: ${(err as Error).message}${(err as Error).cause instanceof Error ? `: ${((err as Error).cause as Error).message}` : ''}`, { temporary: true });
    }
  }

  private tokenError(res: Response, what: string): RegistryError {
    const temporary = isTemporaryStatus(res.status);
    const why = res.status === 401 || res.status === 403 ? 'credentials refused or missing' : temporary ? 'token service unavailable' : 'token request failed';
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return new RegistryError(temporary ? 'NETWORK' : 'AUTH', `${what}: HTTP ${res.status} (${why})`, {
      status: res.status,
      temporary,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  private async readToken(res: Response, key: string, scopes: string[], what: string): Promise<CachedToken> {
    const text = await res.text();
    if (text.length > 1 << 20) throw new RegistryError('PROTOCOL', `${what}: response larger than 1 MiB`);
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown; refresh_token?: unknown };
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      throw new RegistryError('PROTOCOL', `${what}: response is not JSON`);
    }
    const token = typeof json.token === 'string' && json.token ? json.token : typeof json.access_token === 'string' ? json.access_token : '';
    if (!token) throw new RegistryError('PROTOCOL', `${what}: response has neither token nor access_token`);
    this.options.redactor?.add(token);
    if (typeof json.refresh_token === 'string' && json.refresh_token) {
      this.options.redactor?.add(json.refresh_token);
      this.refreshTokens.set(key, json.refresh_token);
    }
    // token.md: expires_in defaults to 60 and is never below 60 seconds.
    const expiresIn = typeof json.expires_in === 'number' && json.expires_in >= 60 ? json.expires_in : 60;
    this.logger.debug(`${what}: granted, valid ${expiresIn} s${typeof json.refresh_token === 'string' ? ' (with a refresh token)' : ''}`);
    const issued = typeof json.issued_at === 'string' ? Date.parse(json.issued_at) : NaN;
    const now = this.clock.now().getTime();
    const start = Number.isNaN(issued) || issued > now ? now : issued;
    return { token, scopes, expiresAt: start + expiresIn * 1000 };
  }
}
