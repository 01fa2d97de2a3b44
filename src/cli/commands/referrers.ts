// `lading referrers REF`: signatures, SBOMs and attestations attached to an image, from the
// referrers API or the sha256-<hex> fallback tag.
import type { Command } from 'commander';
import { output, table, type CliContext } from '../context.js';
import { addRegistryOptions, type RegistryFlags } from './registry-flags.js';

/** Registers `referrers`. */
export function register(program: Command, ctx: () => CliContext): void {
  addRegistryOptions(
    program
      .command('referrers')
      .description('list the artifacts whose subject is an image (referrers API, else the fallback tag)')
      .argument('<reference>', 'host[:port]/repo[:tag][@digest] or oci:DIR[:name][@digest]')
      .option('--artifact-type <type>', 'only referrers of this artifact type'),
  ).action(async (reference: string, flags: RegistryFlags & { artifactType?: string }) => {
    const c = ctx();
    const [{ isDigest }, { RegistryError, listReferrers }, { openRef, registryClient }] = await Promise.all([
      import('../../core/index.js'),
      import('../../registry/index.js'),
      import('./registry-client.js'),
    ]);
    const opened = await openRef(c, reference, { client: registryClient(c, flags) });
    const ref = opened.reference ?? 'latest';
    let digest = isDigest(ref) ? ref : undefined;
    if (!digest) {
      const desc = await opened.target.statManifest(ref, { signal: c.signal });
      if (!desc) throw new RegistryError('NOT_FOUND', `referrers of ${reference}: ${ref} not found in ${opened.target.label}`);
      digest = desc.digest;
    }
    const result = await listReferrers(opened.target, digest, { signal: c.signal, ...(flags.artifactType ? { artifactType: flags.artifactType } : {}) });
    output(c, { subject: digest, ...result }, () =>
      result.referrers.length === 0
        ? `no referrers of ${digest} (${result.mode})`
        : table([['DIGEST', 'ARTIFACT TYPE', 'SIZE'], ...result.referrers.map((d) => [d.digest, d.artifactType ?? '-', String(d.size)])]),
    );
  });
}
