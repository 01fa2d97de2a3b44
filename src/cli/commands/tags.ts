// `lading tags REPO`: every tag of a registry repository (all pages) or every ref name of a layout.
import type { Command } from 'commander';
import { output, type CliContext } from '../context.js';
import { addRegistryOptions, type RegistryFlags } from './registry-flags.js';

/** Registers `tags`. */
export function register(program: Command, ctx: () => CliContext): void {
  addRegistryOptions(
    program
      .command('tags')
      .description('list the tags of a registry repository or the names in an OCI layout')
      .argument('<repository>', 'host[:port]/repo or oci:DIR'),
  ).action(async (repository: string, flags: RegistryFlags) => {
    const c = ctx();
    const { openRef, registryClient } = await import('./registry-client.js');
    const opened = await openRef(c, repository, { client: registryClient(c, flags), defaultTag: null });
    const tags = await opened.target.listTags({ signal: c.signal });
    output(c, { repository: opened.target.label, tags }, () => tags.join('\n'));
  });
}
