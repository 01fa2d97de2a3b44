// `lading image from-dir DIR --tag NAME`: a one-layer image from a directory, into the store.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Platform } from '../../oci/index.js';
import { collect, output, type CliContext } from '../context.js';
import { imageGroup } from './image.js';
import { formatBytes } from './store.js';

interface Flags {
  tag: string;
  env?: string[];
  entrypoint?: string;
  cmd?: string;
  label?: string[];
  workdir?: string;
  user?: string;
  platform: string;
  compression: 'gzip' | 'zstd';
}

function keyValue(flag: string, v: string): [string, string] {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`${flag} ${JSON.stringify(v)}: want KEY=VALUE`);
  return [v.slice(0, i), v.slice(i + 1)];
}

/** `["a","b"]` (JSON, exact) or `a b` (split on whitespace). */
function argv(flag: string, v: string): string[] {
  if (v.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new InvalidArgumentError(`${flag}: ${JSON.stringify(v)} is not a JSON array of strings`);
    }
    if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw new InvalidArgumentError(`${flag}: want a JSON array of strings`);
    return parsed as string[];
  }
  return v.split(/\s+/).filter((s) => s !== '');
}

function platform(v: string): Platform {
  const [os, architecture, variant, ...rest] = v.split('/');
  if (!os || !architecture || rest.length > 0) throw new InvalidArgumentError(`--platform ${JSON.stringify(v)}: want os/arch[/variant], e.g. linux/amd64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Registers `image from-dir`. */
export function register(program: Command, ctx: () => CliContext): void {
  imageGroup(program)
    .command('from-dir')
    .description('make a one-layer image from a directory (owners 0:0, mtimes and created = SOURCE_DATE_EPOCH, default 0: reproducible)')
    .argument('<dir>', 'the directory that becomes the image root')
    .requiredOption('--tag <name>', 'name of the image in the store', (v: string) => {
      // oci:DIR:name@digest reads what follows an "@" as a digest: such a name could not be named again.
      if (v.includes('@')) throw new InvalidArgumentError(`--tag ${JSON.stringify(v)}: a name cannot hold "@" (oci:DIR:NAME@DIGEST reads it as a digest)`);
      return v;
    })
    .option('--env <KEY=VALUE>', 'environment variable (repeatable; PATH defaults to the usual Linux one)', collect)
    .option('--entrypoint <command>', 'entrypoint: a JSON array, or words split on spaces')
    .option('--cmd <command>', 'default arguments: a JSON array, or words split on spaces')
    .option('--label <KEY=VALUE>', 'config label (repeatable)', collect)
    .option('--workdir <path>', 'working directory (absolute)')
    .option('--user <user>', 'user[:group] the process runs as')
    .option('--platform <os/arch[/variant]>', 'platform recorded in the config', 'linux/amd64')
    .option('--compression <gzip|zstd>', 'layer compression', 'gzip')
    .action(async (dir: string, flags: Flags) => {
      const c = ctx();
      if (flags.compression !== 'gzip' && flags.compression !== 'zstd') throw new InvalidArgumentError(`--compression ${JSON.stringify(flags.compression)}: want gzip or zstd`);
      for (const e of flags.env ?? []) keyValue('--env', e);
      const labels = flags.label ? Object.fromEntries(flags.label.map((l) => keyValue('--label', l))) : undefined;
      const [{ fromDir }, { parseSourceDateEpoch }, { openLayout }] = await Promise.all([import('../../build/index.js'), import('../../core/index.js'), import('../../layout/index.js')]);
      const epoch = c.env.SOURCE_DATE_EPOCH !== undefined && c.env.SOURCE_DATE_EPOCH !== '' ? parseSourceDateEpoch(c.env.SOURCE_DATE_EPOCH) : 0;
      const store = await openLayout({ path: c.storePath, create: true, signal: c.signal, logger: c.logger });
      try {
        const result = await fromDir({
          store,
          dir: resolve(c.cwd, dir),
          tag: flags.tag,
          platform: platform(flags.platform),
          compression: flags.compression,
          sourceDateEpoch: epoch,
          ...(flags.env ? { env: flags.env } : {}),
          ...(flags.entrypoint !== undefined ? { entrypoint: argv('--entrypoint', flags.entrypoint) } : {}),
          ...(flags.cmd !== undefined ? { cmd: argv('--cmd', flags.cmd) } : {}),
          ...(labels ? { labels } : {}),
          ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
          ...(flags.user !== undefined ? { user: flags.user } : {}),
          signal: c.signal,
          logger: c.logger,
        });
        output(c, result, () => `${result.name} ${result.manifest.digest} (1 layer, ${formatBytes(result.layer.size)}, ${result.entries} entries, created ${result.created})`);
      } finally {
        await store.close();
      }
    });
}
