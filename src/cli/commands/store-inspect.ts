// `lading store inspect NAME|DIGEST`: a summary of one image or index.
import type { Command } from 'commander';
import type { InspectResult } from '../../layout/index.js';
import { output, table, type CliContext } from '../context.js';
import { formatBytes, shortMediaType, storeGroup } from './store.js';

/** Registers `store inspect`. */
export function register(program: Command, ctx: () => CliContext): void {
  storeGroup(program)
    .command('inspect')
    .description('show a manifest or index: digest, media type, platforms, layers, config essentials, annotations')
    .argument('<name|digest>', 'a ref name in the store, or a sha256: digest')
    .action(async (reference: string) => {
      const c = ctx();
      const { openLayout } = await import('../../layout/index.js');
      const store = await openLayout({ path: c.storePath, signal: c.signal, logger: c.logger });
      const info = await store.inspect(reference, { signal: c.signal });
      output(c, info, () => formatInspect(info));
    });
}

/** The text form of an InspectResult. */
export function formatInspect(info: InspectResult): string {
  const lines: string[] = [];
  const kv = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') lines.push(`${`${k}:`.padEnd(14)}${v}`);
  };
  kv('Names', info.names.join(', ') || '(unnamed)');
  kv('Digest', info.digest);
  kv('Media type', `${info.mediaType} (${shortMediaType(info.mediaType)})`);
  kv('Size', `${info.size} B`);
  kv('Artifact type', info.artifactType);
  if (info.subject) kv('Subject', info.subject.digest);
  if (info.manifests) {
    lines.push('Manifests:');
    lines.push(indent(table([['PLATFORM', 'DIGEST', 'SIZE'], ...info.manifests.map((m) => [m.platform ?? m.artifactType ?? '-', m.digest, `${m.size} B`])])));
  }
  if (info.config) {
    const cfg = info.config;
    kv('Platform', cfg.platform);
    kv('Created', cfg.created);
    kv('Config', `${cfg.digest} (${cfg.size} B)`);
    kv('User', cfg.user);
    kv('Workdir', cfg.workingDir);
    if (cfg.entrypoint) kv('Entrypoint', JSON.stringify(cfg.entrypoint));
    if (cfg.cmd) kv('Cmd', JSON.stringify(cfg.cmd));
    if (cfg.env.length > 0) kv('Env', cfg.env.join('\n' + ' '.repeat(14)));
    if (cfg.exposedPorts.length > 0) kv('Ports', cfg.exposedPorts.join(', '));
    if (cfg.volumes.length > 0) kv('Volumes', cfg.volumes.join(', '));
    kv('Stop signal', cfg.stopSignal);
    const labels = Object.entries(cfg.labels);
    if (labels.length > 0) kv('Labels', labels.map(([k, v]) => `${k}=${v}`).join('\n' + ' '.repeat(14)));
  }
  if (info.layers) {
    lines.push(`Layers:       ${info.layers.length}, ${formatBytes(info.totalSize ?? 0)} with config`);
    lines.push(indent(table([['DIGEST', 'SIZE', 'TYPE'], ...info.layers.map((l) => [l.digest, formatBytes(l.size), l.mediaType])])));
  }
  const ann = Object.entries(info.annotations);
  if (ann.length > 0) kv('Annotations', ann.map(([k, v]) => `${k}=${v}`).join('\n' + ' '.repeat(14)));
  return lines.join('\n');
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
