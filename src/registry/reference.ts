// Where a copy reads from or writes to: a registry reference (`host[:port]/repo[:tag][@digest]`,
// optionally spelled `docker://...` as skopeo does) or an OCI image layout (`oci:DIR[:name][@digest]`).
import { isAbsolute, resolve } from 'node:path';
import { isDigest, type Digest } from '../core/index.js';
import { DOCKER_HUB, isValidRefName, parseImageReference, type ImageReference } from '../oci/index.js';
import { RegistryError } from './errors.js';

/** A parsed copy endpoint. */
export type CopyReference =
  | { readonly kind: 'registry'; readonly ref: ImageReference }
  | { readonly kind: 'layout'; readonly path: string; readonly name?: string; readonly digest?: Digest };

/** Options for parseCopyReference. */
export interface ParseCopyReferenceOptions {
  /** Base for relative layout paths. Default process.cwd(). */
  cwd?: string;
  /** Tag used for a registry reference that names neither tag nor digest. Default `latest`; null leaves it unset. */
  defaultTag?: string | null;
}

/**
 * Parses `oci:DIR[:name][@digest]` or a registry reference. In a layout reference the directory
 * ends at the first `:`, as in skopeo's `oci:path:ref`, so names that hold a `:` themselves
 * (`hello:latest`, what `lading build` writes) can be named; a directory cannot hold a `:`.
 */
export function parseCopyReference(input: string, options: ParseCopyReferenceOptions = {}): CopyReference {
  if (input.startsWith('oci:')) {
    let rest = input.slice(4);
    let digest: Digest | undefined;
    const at = rest.lastIndexOf('@');
    if (at >= 0 && at > rest.lastIndexOf('/')) {
      const d = rest.slice(at + 1);
      if (!isDigest(d)) throw new RegistryError('REFERENCE_INVALID', `layout reference ${JSON.stringify(input)}: invalid digest ${JSON.stringify(d)}`);
      digest = d;
      rest = rest.slice(0, at);
    }
    let name: string | undefined;
    const colon = rest.indexOf(':');
    if (colon >= 0) {
      name = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
      if (!isValidRefName(name)) throw new RegistryError('REFERENCE_INVALID', `layout reference ${JSON.stringify(input)}: invalid ref name ${JSON.stringify(name)}`);
    }
    if (rest.length === 0) throw new RegistryError('REFERENCE_INVALID', `layout reference ${JSON.stringify(input)}: no directory`);
    const path = isAbsolute(rest) ? rest : resolve(options.cwd ?? process.cwd(), rest);
    return { kind: 'layout', path, ...(name !== undefined ? { name } : {}), ...(digest !== undefined ? { digest } : {}) };
  }
  const text = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
  try {
    return { kind: 'registry', ref: parseImageReference(text, { defaultTag: options.defaultTag === undefined ? 'latest' : options.defaultTag }) };
  } catch (err) {
    throw new RegistryError('REFERENCE_INVALID', (err as Error).message, { cause: err });
  }
}

/** How hosts are reached: HTTPS except for loopback and the hosts named here. */
export interface EndpointOptions {
  /** Speak plain HTTP to every registry (`--plain-http`). */
  plainHttp?: boolean;
  /** Hosts (`host[:port]`) spoken to over plain HTTP (`--insecure HOST`). */
  insecure?: readonly string[];
}

/** True for `localhost`, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = hostWithoutPort(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name === '::1' || name === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i >= 0 ? host.slice(0, i) : host;
}

/** The API host for a registry name: Docker Hub's `docker.io` is served by `registry-1.docker.io` (registry.md §7). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/**
 * Base URL of a registry: `http://` for loopback hosts (as docker does) and hosts named insecure,
 * `https://` otherwise.
 */
export function registryBaseUrl(registry: string, options: EndpointOptions = {}): URL {
  const host = apiHost(registry);
  const plain = options.plainHttp === true || isLoopbackHost(host) || (options.insecure ?? []).includes(host) || (options.insecure ?? []).includes(registry);
  return new URL(`${plain ? 'http' : 'https'}://${host}/`);
}
