// `lading build [IMAGE...]`: build a family into the store (buildFamily), with a progress line
// on a terminal, a summary table (or --json), and exit status 1 when any image failed.
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import type { BuildEvent, BuildSummary } from '../../build/index.js';
import { shortDigest } from '../../core/index.js';
import { collect, integerFlag, output, table, type CliContext } from '../context.js';
import { familyFiles, familyOptions, forced, type FamilyFlags } from './family.js';

interface Flags extends FamilyFlags {
  profile?: string[];
  arch?: string[];
  force?: boolean;
  jobs?: string;
  retries?: string;
  offline?: boolean;
  downloads?: string;
  updateLock?: boolean;
  noOverlay?: boolean;
  overlay?: boolean;
  keepRootfs?: boolean;
  deferPy3compile?: boolean;
}

function count(value: string | undefined, flag: string, min: number, dflt: number): number {
  return value === undefined ? dflt : integerFlag(value, flag, min);
}

/** kolla-build builds 8 images at once by default; one per core, at least 2 and at most 8, here. */
function defaultJobs(): number {
  return Math.min(8, Math.max(2, availableParallelism()));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Control characters from a step's output (escape sequences) shown as \xNN, not sent to the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this escapes
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The summary as people read it: one row per image and architecture, then the names. */
export function formatBuildSummary(s: BuildSummary, cwd: string): string {
  const rows = [['IMAGE', 'ARCH', 'RESULT', 'DIGEST', 'TIME', 'DETAIL']];
  const order = new Map(s.plan.selection.selected.map((n, i) => [n, i]));
  type Row = { image: string; arch: string; cells: string[] };
  const all: Row[] = [
    ...s.built.map((b) => ({ image: b.image, arch: b.arch, cells: ['built', shortDigest(b.digest), seconds(b.durationMs), `${b.layersFrom ? `config only, on the layers of ${shortDigest(b.layersFrom)}` : `${b.packages} package${b.packages === 1 ? '' : 's'}, layer ${(b.layer.size / 1048576).toFixed(1)} MiB`}${b.attempts > 1 ? `, ${b.attempts} attempts` : ''}`] })),
    ...s.reused.map((r) => ({ image: r.image, arch: r.arch, cells: ['reused', shortDigest(r.digest), '-', 'unchanged'] })),
    ...s.failed.map((f) => ({ image: f.image, arch: f.arch, cells: ['FAILED', '-', '-', `${printable(f.reason.split('\n')[0] ?? '').replace(/:$/, '')}${f.log ? ` (log: ${relative(cwd, f.log) || f.log})` : ''}`] })),
    ...s.skipped.map((k) => ({ image: k.image, arch: k.arch, cells: ['skipped', '-', '-', k.reason] })),
  ];
  all.sort((a, b) => (order.get(a.image) ?? 0) - (order.get(b.image) ?? 0) || (a.arch < b.arch ? -1 : 1));
  for (const r of all) rows.push([r.image, r.arch, ...r.cells]);
  const names = s.names.filter((n) => n.changed).map((n) => `${n.name} -> ${shortDigest(n.digest)}`);
  const unnamed = s.unnamed.map((u) => `${u.name} (${u.reason}; ${u.keeps ? `the name keeps ${shortDigest(u.keeps)}` : 'no image had the name'})`);
  const head = `family ${s.family}: ${s.built.length} built, ${s.reused.length} reused, ${s.failed.length} failed, ${s.skipped.length} skipped in ${seconds(s.durationMs)}`;
  // The table has room for a reason's first line; the output's last lines follow it in full.
  const details = s.failed
    .map((f) => printable(f.reason.replace(/\n\s*log: [^\n]*$/, '')))
    .filter((r) => r.includes('\n'))
    .map((r) => `\n${r}`);
  return [head, table(rows), ...details, names.length ? `named: ${names.join(', ')}` : '', unnamed.length ? `not named: ${unnamed.join(', ')}` : '', s.failed.length ? `logs: ${relative(cwd, s.logDir) || s.logDir}` : ''].filter(Boolean).join('\n');
}

/**
 * The progress line cut to the terminal's width: a line that wraps cannot be redrawn with \r,
 * so every update would leave a line behind.
 */
export function progressLine(text: string, columns: number | undefined): string {
  const width = columns && columns > 1 ? columns - 1 : 400;
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** A one-line progress display on stderr for terminals; `stop` clears it. */
function progress(c: CliContext): { onEvent: (e: BuildEvent) => void; stop: () => void } {
  const running = new Map<string, { stage: string; since: number }>();
  let total = 0;
  let done = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    const parts = [...running].map(([k, v]) => `${k.replace('\u0000', ' (')}): ${v.stage} ${Math.round((Date.now() - v.since) / 1000)}s`);
    c.stderr.write(`\r\x1b[K${progressLine(`[${done}/${total}] ${parts.join(' | ')}`, (c.stderr as { columns?: number }).columns)}`);
  };
  const stop = () => {
    if (timer) {
      clearInterval(timer);
      timer = undefined;
      c.stderr.write('\r\x1b[K');
    }
  };
  const onEvent = (e: BuildEvent) => {
    if (e.type === 'planned') {
      total = e.plan.batches.flat().length;
      if (c.interactive) timer = setInterval(draw, 1000);
      timer?.unref();
      return;
    }
    if (e.type === 'locked') {
      if (e.written) c.stderr.write(`wrote ${relative(c.cwd, e.path) || e.path}\n`);
      return;
    }
    if (!('image' in e)) return;
    const k = `${e.image}\u0000${e.arch}`;
    if (e.type === 'start') running.set(k, { stage: e.attempt > 1 ? `attempt ${e.attempt}` : 'starting', since: Date.now() });
    else if (e.type === 'stage') {
      const r = running.get(k);
      if (r) r.stage = e.stage;
    } else if (e.type === 'finished') {
      running.delete(k);
      done++;
      if (!c.interactive && !c.json && e.outcome !== 'reused') c.stderr.write(`${e.outcome} ${e.image} (${e.arch})${e.outcome === 'built' ? ` ${shortDigest(e.detail ?? '')}` : ''}\n`);
      if (done === total) stop();
    }
    if (timer) draw();
  };
  return { onEvent, stop };
}

/** Registers `build`. */
export function register(program: Command, ctx: () => CliContext): void {
  const cmd = program
    .command('build')
    .description('build the images of a family into the store: only what changed, parents first, independent images in parallel')
    .argument('[image...]', 'images to build (names, or globs with * such as nova-*; their ancestors come along); default all')
    .option('-p, --profile <name>', 'build the images of a profile (repeatable)', collect)
    .option('--arch <arch>', 'only this architecture (repeatable)', collect)
    .option('--force', 'rebuild the named images even when the store has them (with a glob, a profile or no names: every selected image, ancestors too)')
    .option('-j, --jobs <n>', `images built at once (default: the number of cores, 2 to 8; here ${defaultJobs()})`)
    .option('--retries <n>', 'extra attempts for transient failures (network, runtime start, I/O; default 1)')
    .option('--offline', 'use only the apt cache (indexes and .debs fetched before)')
    .option('--downloads <n>', '.debs downloaded at once (default 4, polite to public mirrors; raise it for your own mirror)')
    .option('--update-lock', 'resolve lading.lock again before building (also needed when it is stale)')
    .option('--no-overlay', 'build child images on copies of their parents instead of overlayfs')
    .option('--no-keep-rootfs', 'do not keep the images\' root filesystems in the store for later child builds')
    .option('--no-defer-py3compile', 'let every Python package\'s postinst run py3compile itself (slower; see docs/build.md)');
  familyOptions(cmd).action(async (images: string[], flags: Flags) => {
    const c = ctx();
    const jobs = count(flags.jobs, '--jobs', 1, defaultJobs());
    const retries = count(flags.retries, '--retries', 0, 1);
    const downloads = count(flags.downloads, '--downloads', 1, 4);
    const { BuildError, buildFamily } = await import('../../build/index.js');
    const display = progress(c);
    let summary: BuildSummary;
    try {
      summary = await buildFamily({
        ...familyFiles(c, flags),
        storePath: c.storePath,
        cacheDir: c.cachePath,
        selection: { images, profiles: flags.profile ?? [] },
        ...(flags.arch ? { architectures: flags.arch } : {}),
        ...(flags.force ? { force: forced(images, flags.profile ?? []) } : {}),
        jobs,
        retries,
        ...(flags.offline ? { offline: true } : {}),
        downloads,
        ...(flags.updateLock ? { updateLock: true } : {}),
        ...(flags.overlay === false ? { overlay: false as const } : {}),
        ...(flags.keepRootfs === false ? { keepRootfs: false } : {}),
        ...(flags.deferPy3compile === false ? { deferPy3compile: false } : {}),
        runtimeEnv: c.env,
        fetchBase: async (reference, digest, store, signal) => {
          const [{ RegistryRepository, copyImage, parseCopyReference }, { registryClient }] = await Promise.all([import('../../registry/index.js'), import('./registry-client.js')]);
          const ref = parseCopyReference(reference, { cwd: c.cwd, defaultTag: null });
          if (ref.kind !== 'registry') throw new BuildError('BASE_MISSING', `base ${reference} is not a registry reference`);
          const source = new RegistryRepository(registryClient(c, {}), ref.ref.registry, ref.ref.repository);
          await copyImage({ source, reference: digest, destination: store, tags: [], sourceName: reference }, { ...(signal ? { signal } : {}), logger: c.logger });
        },
        logger: c.logger,
        onEvent: display.onEvent,
      });
    } finally {
      display.stop();
    }
    output(c, summary, () => formatBuildSummary(summary, c.cwd));
    if (summary.failed.length > 0) c.exitCode = 1;
  });
}
