// Registry and layout plumbing shared by the registry-speaking commands (copy, inspect, tags,
// referrers, build): a RegistryClient built from the flags, a reference opened as a ContentTarget,
// and the copy list. The command files load this file inside their actions (dynamic import), so
// registering the commands (`lading --help`) does not load the registry and layout modules.
import { InvalidArgumentError } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { openLayout } from '../../layout/index.js';
import type { ContentTarget } from '../../oci/index.js';
import { RegistryClient, RegistryError, RegistryRepository, createCredentialProvider, parseCopyReference, parseCredentialPair, type CopyItem } from '../../registry/index.js';
import { integerFlag, type CliContext } from '../context.js';
import type { RegistryFlags } from './registry-flags.js';

/** An integer flag (undefined when not given); a bad value is a usage error naming the flag. */
export function positiveInt(value: string | undefined, flag: string, min = 0): number | undefined {
  return value === undefined ? undefined : integerFlag(value, flag, min);
}

/** A RegistryClient for a command: credentials (never logged), endpoints, retries, the run's logger. */
export function registryClient(c: CliContext, flags: RegistryFlags, creds?: string): RegistryClient {
  const explicit = creds ?? flags.creds;
  let pair: ReturnType<typeof parseCredentialPair> | undefined;
  try {
    pair = explicit !== undefined ? parseCredentialPair(explicit) : undefined;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message); // a flag written wrong: a usage error (exit 2)
  }
  if (pair) c.redactor.add(pair.password);
  if (c.env.LADING_REGISTRY_PASSWORD) c.redactor.add(c.env.LADING_REGISTRY_PASSWORD);
  const credentials = createCredentialProvider({
    env: c.env,
    ...(pair ? { explicit: pair } : {}),
    ...(flags.authfile ? { authFile: flags.authfile } : {}),
    redactor: c.redactor,
    logger: c.logger,
  });
  const retries = positiveInt(flags.retries, '--retries');
  const perHost = positiveInt(flags.maxPerHost, '--max-per-host', 1);
  return new RegistryClient({
    credentials,
    logger: c.logger,
    redactor: c.redactor,
    userAgent: 'lading/0.1',
    ...(flags.plainHttp ? { plainHttp: true } : {}),
    ...(flags.insecure?.length ? { insecure: flags.insecure } : {}),
    ...(retries !== undefined ? { retry: { retries } } : {}),
    ...(perHost !== undefined ? { maxConcurrentPerHost: perHost } : {}),
  });
}

/** A resolved endpoint: the target and what to ask it for. */
export interface OpenedRef {
  target: ContentTarget;
  /** Tag / ref name or digest, when the reference named one. */
  reference?: string;
  /** The tag (or ref name) part alone. */
  tag?: string;
  /** The reference as the user should read it. */
  name: string;
}

/** Opens `oci:DIR[:name]` (layout) or `host/repo[:tag][@digest]` (registry); targets are shared per repository. */
export async function openRef(c: CliContext, text: string, options: { client: RegistryClient; create?: boolean; defaultTag?: string | null; cache?: Map<string, ContentTarget> }): Promise<OpenedRef> {
  const ref = parseCopyReference(text, { cwd: c.cwd, defaultTag: options.defaultTag === undefined ? 'latest' : options.defaultTag });
  const cache = options.cache ?? new Map<string, ContentTarget>();
  if (ref.kind === 'layout') {
    const key = `oci:${ref.path}`;
    let target = cache.get(key);
    if (!target) {
      target = await openLayout({ path: ref.path, create: options.create === true, signal: c.signal, logger: c.logger });
      cache.set(key, target);
    }
    return { target, name: text, ...(ref.digest ? { reference: ref.digest } : ref.name ? { reference: ref.name } : {}), ...(ref.name ? { tag: ref.name } : {}) };
  }
  const key = `${ref.ref.registry}/${ref.ref.repository}`;
  let target = cache.get(key);
  if (!target) {
    target = new RegistryRepository(options.client, ref.ref.registry, ref.ref.repository);
    cache.set(key, target);
  }
  const reference = ref.ref.digest ?? ref.ref.tag;
  return { target, name: text, ...(reference ? { reference } : {}), ...(ref.ref.tag ? { tag: ref.ref.tag } : {}) };
}

/** The "SOURCE DESTINATION" lines of a `copy --from-file` list (`#` comments, blank lines skipped). */
export async function readCopyPairs(file: string, cwd: string): Promise<Array<[string, string]>> {
  const text = await readFile(resolve(cwd, file), 'utf8').catch((err: Error) => {
    throw new RegistryError('REFERENCE_INVALID', `--from-file ${file}: ${err.message}`);
  });
  const pairs: Array<[string, string]> = [];
  text.split('\n').forEach((line, i) => {
    const t = line.replace(/#.*/, '').trim();
    if (!t) return;
    const parts = t.split(/\s+/);
    if (parts.length !== 2) throw new RegistryError('REFERENCE_INVALID', `--from-file ${file}:${i + 1}: want "SOURCE DESTINATION"`);
    pairs.push([parts[0] as string, parts[1] as string]);
  });
  if (pairs.length === 0) throw new RegistryError('REFERENCE_INVALID', `--from-file ${file}: no images listed`);
  return pairs;
}

/** Resolves SRC/DST pairs into copy items (tags: the destination's, else the source's). */
export async function planCopyItems(c: CliContext, pairs: Array<[string, string]>, src: RegistryClient, dst: RegistryClient): Promise<CopyItem[]> {
  const cache = new Map<string, ContentTarget>();
  const dcache = new Map<string, ContentTarget>();
  const items: CopyItem[] = [];
  for (const [s, d] of pairs) {
    const from = await openRef(c, s, { client: src, cache });
    let reference = from.reference;
    if (reference === undefined) {
      const tags = await from.target.listTags({ signal: c.signal });
      if (tags.length !== 1) throw new RegistryError('REFERENCE_INVALID', `${s}: name the image (${tags.length} names in the layout: ${tags.slice(0, 5).join(', ')})`);
      reference = tags[0] as string;
    }
    const to = await openRef(c, d, { client: dst, create: true, defaultTag: null, cache: dcache });
    if (to.reference !== undefined && to.tag === undefined) throw new RegistryError('REFERENCE_INVALID', `${d}: a destination names a tag or nothing, not a digest`);
    const tag = to.tag ?? from.tag ?? (reference.startsWith('sha256:') ? undefined : reference);
    items.push({ source: from.target, reference, destination: to.target, tags: tag ? [tag] : [], sourceName: s, destinationName: tag && !to.tag ? `${d}:${tag}` : d });
  }
  return items;
}
