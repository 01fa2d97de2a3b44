// Image references as docker and skopeo spell them: host[:port]/repo[:tag][@digest]
// (distribution/reference grammar; docker.io normalisation as in ggcr pkg/name).
import { isDigest, type Digest } from '../core/index.js';
import { OciError } from './errors.js';

export const DOCKER_HUB = 'docker.io';
const REPO_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** A parsed registry image reference. `tag` and `digest` may both be set (`repo:tag@sha256:...`). */
export interface ImageReference {
  /** Registry host as written (normalised for Docker Hub to `docker.io`), with port. */
  readonly registry: string;
  /** Repository path, with `library/` added for single-component Docker Hub names. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export interface ParseReferenceOptions {
  /** Tag assumed when neither tag nor digest is given. Default `latest`; `null` leaves it unset. */
  defaultTag?: string | null;
}

/** True when a tag matches the distribution-spec tag grammar. */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/** True when a repository path matches the distribution-spec name grammar. */
export function isValidRepository(repo: string): boolean {
  return repo.length > 0 && repo.length <= 255 && repo.split('/').every((c) => REPO_COMPONENT.test(c));
}

/** Parses `host[:port]/repo[:tag][@digest]`. Errors name the reference. */
export function parseImageReference(input: string, options: ParseReferenceOptions = {}): ImageReference {
  const fail = (why: string): never => {
    throw new OciError('REFERENCE_INVALID', `image reference ${JSON.stringify(input)}: ${why}`);
  };
  if (input.length === 0) fail('empty');
  if (input.length > 512) fail('too long');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) fail(`invalid digest ${JSON.stringify(d)}`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) fail(`invalid tag ${JSON.stringify(tag)}`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
      if (!HOST.test(registry)) fail(`invalid registry host ${JSON.stringify(registry)}`);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!isValidRepository(repository)) {
    fail(`invalid repository ${JSON.stringify(repository)} (lower-case letters, digits and separators . _ __ - only)`);
  }
  if (tag === undefined && digest === undefined && options.defaultTag !== null) tag = options.defaultTag ?? 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]`. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The tag or digest to ask a registry for; the digest wins when both are set. */
export function referenceTarget(ref: ImageReference): string {
  const t = ref.digest ?? ref.tag;
  if (t === undefined) throw new OciError('REFERENCE_INVALID', `image reference ${formatImageReference(ref)}: no tag or digest`);
  return t;
}

const REF_NAME_COMPONENT = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*$/;

/** True for a valid `org.opencontainers.image.ref.name` (annotations.md grammar). */
export function isValidRefName(name: string): boolean {
  return name.length > 0 && name.length <= 512 && name.split('/').every((c) => REF_NAME_COMPONENT.test(c));
}
