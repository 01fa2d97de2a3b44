// `lading images`: the family's images, parents, children, profiles and what each inherits
// (Kolla's --list-images and --list-dependencies).
import type { Command } from 'commander';
import type { FamilySummary } from '../../build/index.js';
import { output, table, type CliContext } from '../context.js';
import { familyFiles, familyOptions, printWarnings, type FamilyFlags } from './family.js';

function count(r: Readonly<Record<string, readonly string[]>>): string {
  const sizes = [...new Set(Object.values(r).map((l) => l.length))];
  return sizes.length <= 1 ? String(sizes[0] ?? 0) : Object.entries(r).map(([a, l]) => `${a}:${l.length}`).join(' ');
}

/** The family as a table and a tree. */
export function formatFamily(s: FamilySummary): string {
  const rows = [['IMAGE', 'FROM', 'ARCH', 'PROFILES', 'PACKAGES', 'INHERITED', 'INHERITS']];
  for (const i of s.images) {
    const from = i.fromKind === 'external' ? i.from.replace(/@sha256:([0-9a-f]{12})[0-9a-f]+$/, '@sha256:$1…') : i.from;
    rows.push([i.name, from, i.architectures.join(','), i.profiles.join(',') || '-', count(i.packages), count(i.inheritedPackages), String(i.inherits.length)]);
  }
  const byName = new Map(s.images.map((i) => [i.name, i]));
  const lines: string[] = [];
  const walk = (name: string, prefix: string, last: boolean, root: boolean) => {
    const i = byName.get(name);
    if (!i) return;
    lines.push(root ? `${name}${i.fromKind === 'image' ? '' : ` (${i.fromKind === 'external' ? 'external' : i.from})`}` : `${prefix}${last ? '└─ ' : '├─ '}${name}`);
    const kids = i.children;
    kids.forEach((k, n) => walk(k, root ? '' : `${prefix}${last ? '   ' : '│  '}`, n === kids.length - 1, false));
  };
  for (const i of s.images) if (i.fromKind !== 'image') walk(i.name, '', true, true);
  return `family ${s.family} (${s.architectures.join(', ')}), ${s.images.length} images\n${table(rows)}\n\n${lines.join('\n')}`;
}

/** Registers `images`. */
export function register(program: Command, ctx: () => CliContext): void {
  const cmd = program.command('images').description('list the images of the family: parents, children, profiles, and what each inherits');
  familyOptions(cmd, false).action(async (flags: FamilyFlags) => {
    const c = ctx();
    const { listFamily } = await import('../../build/index.js');
    const { warnings, ...summary } = await listFamily(familyFiles(c, flags));
    await printWarnings(c, warnings);
    output(c, summary, () => formatFamily(summary));
  });
}
