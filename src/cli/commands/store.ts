// The `lading store` command group. Not a command of its own: store-ls, store-inspect,
// store-verify and store-gc each add their subcommand under the group this returns.
import type { Command } from 'commander';

/** The `store` group of `program`, created on first use so the command files stay independent. */
export function storeGroup(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'store');
  if (existing) return existing;
  return program
    .command('store')
    .description('the local OCI image-layout store (--store DIR, env LADING_STORE, default ./.lading/store)');
}

/** A short name for a manifest media type, for tables. */
export function shortMediaType(mediaType: string): string {
  const known: Record<string, string> = {
    'application/vnd.oci.image.index.v1+json': 'oci index',
    'application/vnd.oci.image.manifest.v1+json': 'oci manifest',
    'application/vnd.docker.distribution.manifest.list.v2+json': 'docker list',
    'application/vnd.docker.distribution.manifest.v2+json': 'docker manifest',
  };
  return known[mediaType] ?? mediaType;
}

/** Bytes for people: 1.5 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
