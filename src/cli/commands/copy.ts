// `lading copy SRC DST` (or `--from-file LIST`): images and indexes between registries and OCI
// layouts (`oci:DIR[:name]`), digests unchanged, tags last.
import { InvalidArgumentError, type Command } from 'commander';
import type { CopyReport, ImageProgress } from '../../registry/index.js';
import { output, type CliContext } from '../context.js';
import { addRegistryOptions, type RegistryFlags } from './registry-flags.js';

interface CopyFlags extends RegistryFlags {
  fromFile?: string;
  platform?: string;
  referrers?: boolean;
  srcCreds?: string;
  destCreds?: string;
  concurrency?: string;
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
    const [{ copyImages, parsePlatform }, { planCopyItems, positiveInt, readCopyPairs, registryClient }] = await Promise.all([
      import('../../registry/index.js'),
      import('./registry-client.js'),
    ]);
    let pairs: Array<[string, string]>;
    if (flags.fromFile) {
      if (source !== undefined) throw new InvalidArgumentError('give either SOURCE DESTINATION or --from-file, not both');
      pairs = await readCopyPairs(flags.fromFile, c.cwd);
    } else {
      if (source === undefined || destination === undefined) throw new InvalidArgumentError('copy needs SOURCE and DESTINATION (or --from-file)');
      pairs = [[source, destination]];
    }
    const srcClient = registryClient(c, flags, flags.srcCreds);
    const dstClient = flags.srcCreds !== undefined || flags.destCreds !== undefined ? registryClient(c, flags, flags.destCreds) : srcClient;
    const items = await planCopyItems(c, pairs, srcClient, dstClient);
    const concurrency = positiveInt(flags.concurrency, '--concurrency', 1);
    let last = 0;
    const showProgress = c.interactive && !c.json;
    // Layouts written to take a writer lease; close them so none is left for `store verify` and gc.
    const closeLayouts = async () => {
      for (const t of new Set(items.flatMap((i) => [i.source, i.destination]))) {
        const closable = t as { close?: () => Promise<void> };
        if (typeof closable.close === 'function') await closable.close();
      }
    };
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
    }).finally(closeLayouts);
    if (showProgress) c.stderr.write('\r\x1b[K');
    output(c, report, () => formatCopyReport(report));
    if (!report.ok) {
      for (const r of report.images) {
        if (r.error === undefined || !c.json) continue;
        // Errors of the copy usually start with "copying SOURCE"; do not say it twice.
        const said = r.error.startsWith(`copying ${r.source}`) ? r.error : `copying ${r.source} -> ${r.destination}: ${r.error}`;
        c.stderr.write(`lading: ${c.redactor.redact(said)}\n`);
      }
      c.exitCode = 1;
    }
  });
}
