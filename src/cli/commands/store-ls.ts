// `lading store ls`: every index.json entry of the store.
import type { Command } from 'commander';
import { output, table, type CliContext } from '../context.js';
import { formatBytes, shortMediaType, storeGroup } from './store.js';

/** Registers `store ls`. */
export function register(program: Command, ctx: () => CliContext): void {
  storeGroup(program)
    .command('ls')
    .description('list the images in the store (names, digests, media types, sizes)')
    .action(async () => {
      const c = ctx();
      const { openLayout } = await import('../../layout/index.js');
      const store = await openLayout({ path: c.storePath, signal: c.signal, logger: c.logger });
      const entries = await store.list({ signal: c.signal });
      output(c, { store: store.path, entries }, () =>
        entries.length === 0
          ? `(no images in ${store.path})`
          : table([
              ['NAME', 'DIGEST', 'TYPE', 'SIZE', 'PLATFORM'],
              ...entries.map((e) => [e.name ?? '-', e.digest, shortMediaType(e.mediaType), formatBytes(e.size), e.platform ?? '']),
            ]),
      );
    });
}
