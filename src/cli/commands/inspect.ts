// `lading inspect REF`: a manifest or index from a registry or a layout, without pulling layers.
import type { Command } from 'commander';
import type { InspectResult } from '../../registry/index.js';
import { output, table, type CliContext } from '../context.js';
import { addRegistryOptions, type RegistryFlags } from './registry-flags.js';

/** Registers `inspect`. */
export function register(program: Command, ctx: () => CliContext): void {
  addRegistryOptions(
    program
      .command('inspect')
      .description('show the manifest or index a reference points to (digest, media type, platforms, layers)')
      .argument('<reference>', 'host[:port]/repo[:tag][@digest] or oci:DIR[:name][@digest]')
      .option('--config', 'also read the image config (platform, entrypoint, env, labels)')
      .option('--raw', 'print the manifest bytes exactly as stored'),
  ).action(async (reference: string, flags: RegistryFlags & { config?: boolean; raw?: boolean }) => {
    const c = ctx();
    const [{ inspectTarget }, { openRef, registryClient }] = await Promise.all([import('../../registry/index.js'), import('./registry-client.js')]);
    const opened = await openRef(c, reference, { client: registryClient(c, flags) });
    const info = await inspectTarget(opened.target, opened.reference ?? 'latest', { signal: c.signal, ...(flags.config ? { config: true } : {}) });
    if (flags.raw) {
      c.stdout.write(info.raw.endsWith('\n') ? info.raw : `${info.raw}\n`);
      return;
    }
    const { raw: _raw, ...shown } = info;
    output(c, shown, () => formatInspect(info));
  });
}

/** Text form of an InspectResult. */
export function formatInspect(info: InspectResult): string {
  const lines = [`Reference:  ${info.target}${info.reference.startsWith('sha256:') ? '@' : ':'}${info.reference}`, `Digest:     ${info.digest}`, `Media type: ${info.mediaType}`, `Size:       ${info.size} B`];
  if (info.artifactType) lines.push(`Artifact:   ${info.artifactType}`);
  if (info.subject) lines.push(`Subject:    ${info.subject.digest}`);
  if (info.manifests) {
    lines.push('Manifests:');
    lines.push(table([['PLATFORM', 'DIGEST', 'SIZE'], ...info.manifests.map((m) => [m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}` : (m.artifactType ?? '-'), m.digest, String(m.size)])]).replace(/^/gm, '  '));
  }
  if (info.config) {
    lines.push(`Platform:   ${info.config.os}/${info.config.architecture}${info.config.variant ? `/${info.config.variant}` : ''}`);
    if (info.config.entrypoint) lines.push(`Entrypoint: ${JSON.stringify(info.config.entrypoint)}`);
    if (info.config.cmd) lines.push(`Cmd:        ${JSON.stringify(info.config.cmd)}`);
  }
  if (info.layers) {
    lines.push(`Layers:     ${info.layers.length}`);
    lines.push(table([['DIGEST', 'SIZE', 'TYPE'], ...info.layers.map((l) => [l.digest, String(l.size), l.mediaType])]).replace(/^/gm, '  '));
  }
  for (const [k, v] of Object.entries(info.annotations ?? {})) lines.push(`Annotation: ${k}=${v}`);
  return lines.join('\n');
}
