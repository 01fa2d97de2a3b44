// `lading copy SRC DST` (or `--from-file LIST`): images and indexes between registries and OCI
// layouts (`oci:DIR[:name]`), digests unchanged, tags last. Also holds the reference-to-target
// plumbing the inspect, tags and referrers commands share.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { openLayout } from '../../layout/index.js';
import type { ContentTarget } from '../../oci/index.js';
import {
  RegistryClient,
  RegistryError,
  RegistryRepository,
  copyImages,
  createCredentialProvider,
  parseCopyReference,
  parseCredentialPair,
  parsePlatform,
  type CopyItem,
  type CopyReport,
  type ImageProgress,
} from '../../registry/index.js';
import { collect, output, type CliContext } from '../context.js';

/** Flags every registry-speaking command takes. */
export interface RegistryFlags {
  creds?: string;
  authfile?: string;
  plainHttp?: boolean;
  insecure?: string[];
  retries?: string;
  maxPerHost?: string;
}

/** Adds the connection and credential flags. */
export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--creds <user:password>', 'credentials for the registries (else env LADING_REGISTRY_USER/LADING_REGISTRY_PASSWORD, auth files, credential helpers)')
    .option('--authfile <file>', 'read credentials only from this auth file (podman auth.json or docker config.json format; env REGISTRY_AUTH_FILE)')
    .option('--plain-http', 'speak plain HTTP to every registry (loopback registries always get plain HTTP)')
    .option('--insecure <host>', 'speak plain HTTP to this registry host[:port] (repeatable)', collect, [])
    .option('--retries <n>', 'retries per request on network errors, 408, 429 and 5xx', '4')
    .option('--max-per-host <n>', 'requests in flight per registry host', '6');
}

function positiveInt(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new RegistryError('REFERENCE_INVALID', `${flag}: want an integer >= ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** A RegistryClient for a command: credentials (never logged), endpoints, retries, the run's logger. */
export function registryClient(c: CliContext, flags: RegistryFlags, creds?: string): RegistryClient {
  const explicit = creds ?? flags.creds;
  const pair = explicit !== undefined ? parseCredentialPair(explicit) : undefined;
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

interface CopyFlags extends RegistryFlags {
  fromFile?: string;
  platform?: string;
  referrers?: boolean;
  srcCreds?: string;
  destCreds?: string;
  concurrency?: string;
}

async function readPairs(file: string, cwd: string): Promise<Array<[string, string]>> {
  const { resolve } = await import('node:path');
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
async function planItems(c: CliContext, pairs: Array<[string, string]>, src: RegistryClient, dst: RegistryClient): Promise<CopyItem[]> {
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

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

function progressLine(images: readonly ImageProgress[]): string {
  const done = images.filter((i) => i.state === 'done' || i.state === 'failed').length;
  const sum = (f: (i: ImageProgress) => number) => images.reduce((a, i) => a + f(i), 0);
  return `copying: ${done}/${images.length} images, ${sum((i) => i.blobsDone)}/${sum((i) => i.blobsTotal)} blobs, ${mb(sum((i) => i.bytesDone))}/${mb(sum((i) => i.bytesTotal))}`;
}

/** The text summary of a copy. */
export function formatCopyReport(report: CopyReport): string {
  const lines = report.images.map((r) => {
    if (r.error !== undefined) return `FAILED ${r.source} -> ${r.destination}: ${r.error}`;
    const b = r.blobs;
    const rl = r.rateLimits ? Object.entries(r.rateLimits).map(([h, l]) => ` rate limit ${h}: ${l.remaining ?? '?'}/${l.limit}`).join('') : '';
    return `${r.destination} ${r.digest ?? ''}: ${b.uploaded} uploaded (${mb(r.bytesUploaded)}), ${b.mounted} mounted, ${b.skipped} present; tags ${r.tagsWritten.join(', ') || '(none)'}${r.referrersCopied ? `; ${r.referrersCopied} referrers` : ''}${r.retries ? `; ${r.retries} retries` : ''}${rl}`;
  });
  lines.push(`${report.images.filter((i) => !i.error).length}/${report.images.length} images copied in ${(report.durationMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

/** Registers `copy`. */
export function register(program: Command, ctx: () => CliContext): void {
  addRegistryOptions(
    program
      .command('copy')
      .description('copy images or indexes between registries and OCI layouts (oci:DIR[:name]), by digest, tags last')
      .argument('[source]', 'host[:port]/repo[:tag][@digest] or oci:DIR[:name]')
      .argument('[destination]', 'host[:port]/repo[:tag] or oci:DIR[:name]; without a tag the source tag is used')
      .option('--from-file <file>', 'copy every "SOURCE DESTINATION" line of this file in one run (shared blobs move once)')
      .option('--platform <os/arch[/variant]>', 'copy only this platform of an index')
      .option('--referrers', 'also copy signatures, SBOMs and other referrers (API or sha256-<hex> fallback tag)')
      .option('--src-creds <user:password>', 'credentials for the source registry only')
      .option('--dest-creds <user:password>', 'credentials for the destination registry only')
      .option('--concurrency <n>', 'blobs transferred at once', '6'),
  ).action(async (source: string | undefined, destination: string | undefined, flags: CopyFlags) => {
    const c = ctx();
    let pairs: Array<[string, string]>;
    if (flags.fromFile) {
      if (source !== undefined) throw new RegistryError('REFERENCE_INVALID', 'give either SOURCE DESTINATION or --from-file, not both');
      pairs = await readPairs(flags.fromFile, c.cwd);
    } else {
      if (source === undefined || destination === undefined) throw new RegistryError('REFERENCE_INVALID', 'copy needs SOURCE and DESTINATION (or --from-file)');
      pairs = [[source, destination]];
    }
    const srcClient = registryClient(c, flags, flags.srcCreds);
    const dstClient = flags.srcCreds !== undefined || flags.destCreds !== undefined ? registryClient(c, flags, flags.destCreds) : srcClient;
    const items = await planItems(c, pairs, srcClient, dstClient);
    const concurrency = positiveInt(flags.concurrency, '--concurrency', 1);
    let last = 0;
    const showProgress = c.interactive && !c.json;
    const report = await copyImages(items, {
      signal: c.signal,
      logger: c.logger,
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      ...(flags.referrers ? { referrers: true } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(showProgress
        ? {
            onProgress: (images: readonly ImageProgress[]) => {
              const now = Date.now();
              if (now - last < 200) return;
              last = now;
              c.stderr.write(`\r\x1b[K${progressLine(images)}`);
            },
          }
        : {}),
    });
    if (showProgress) c.stderr.write('\r\x1b[K');
    output(c, report, () => formatCopyReport(report));
    if (!report.ok) {
      for (const r of report.images) if (r.error !== undefined && c.json) c.stderr.write(`lading: copying ${r.source} -> ${r.destination}: ${c.redactor.redact(r.error)}\n`);
      c.exitCode = 1;
    }
  });
}
