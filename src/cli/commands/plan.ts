// `lading plan [IMAGE...]`: what a build would do, and why (text table or --json BuildPlan).
import type { Command } from 'commander';
import type { BuildPlan, PlanStep } from '../../build/index.js';
import { shortDigest } from '../../core/index.js';
import { collect, output, table, type CliContext } from '../context.js';
import { familyFiles, familyOptions, forced, printWarnings, type FamilyFlags } from './family.js';

interface Flags extends FamilyFlags {
  profile?: string[];
  arch?: string[];
  force?: boolean;
}

function why(step: PlanStep): string {
  if (step.kind === 'reuse') return `unchanged: ${shortDigest(step.digest)}`;
  const msgs = step.reasons.map((r) => r.message);
  const text = msgs.length > 4 ? `${msgs.slice(0, 4).join('; ')}; (+${msgs.length - 4} more)` : msgs.join('; ');
  return step.layersFrom ? `${text} (config only: on the layers of ${shortDigest(step.layersFrom)})` : text;
}

/** The plan as a table people read. */
export function formatPlan(plan: BuildPlan): string {
  const rows = [['BATCH', 'IMAGE', 'ARCH', 'ACTION', 'INPUT', 'WHY']];
  plan.batches.forEach((batch, i) => {
    for (const s of batch) rows.push([String(i + 1), s.image, s.arch, s.kind, shortDigest(s.inputHash), why(s)]);
  });
  const head = `family ${plan.family}: ${plan.summary.build} to build, ${plan.summary.reuse} reused (${plan.architectures.join(', ')})`;
  return `${head}\n${table(rows)}`;
}

/** Registers `plan`. */
export function register(program: Command, ctx: () => CliContext): void {
  const cmd = program
    .command('plan')
    .description('show what `lading build` would build, why (which input changed), and what it would reuse')
    .argument('[image...]', 'images to plan (names, or globs with * such as nova-*; their ancestors come along); default all')
    .option('-p, --profile <name>', 'plan the images of a profile (repeatable)', collect)
    .option('--arch <arch>', 'only this architecture (repeatable)', collect)
    .option('--force', 'plan as `lading build --force` builds: the named images (default: every selected image), even when the store has them');
  familyOptions(cmd).action(async (images: string[], flags: Flags) => {
    const c = ctx();
    const { foreignArchBlocks, planFamily } = await import('../../build/index.js');
    const result = await planFamily({
      ...familyFiles(c, flags),
      storePath: c.storePath,
      selection: { images, profiles: flags.profile ?? [] },
      ...(flags.arch ? { architectures: flags.arch } : {}),
      ...(flags.force ? { force: forced(images, flags.profile ?? []) } : {}),
      logger: c.logger,
    });
    await printWarnings(c, result.warnings);
    const blocks = await foreignArchBlocks({ plan: result.plan, family: result.loaded.family, lock: result.lock, lockFile: result.lockFile });
    const defs = result.loaded.family.images;
    const blocked = new Set(blocks.map((b) => `${b.image}\u0000${b.arch}`));
    const planned = result.plan.batches.flat();
    const warnings: NonNullable<BuildPlan['warnings']> = [];
    for (const b of blocks) {
      // The images below a failed one are skipped, not failed: one warning says so.
      if (defs[b.image]?.ancestors.some((a) => blocked.has(`${a}\u0000${b.arch}`))) continue;
      const below = planned.filter((s) => s.arch === b.arch && defs[s.image]?.ancestors.includes(b.image));
      c.logger.warn(`${b.message}: \`lading build\` will fail it before fetching its packages${below.length ? ` and skip the ${below.length} image(s) below it` : ''} (qemu-user emulation: docs/runtime.md, "Foreign architectures")`);
      warnings.push({ code: 'FOREIGN_ARCH', image: b.image, arch: b.arch, message: b.message });
      for (const s of below) warnings.push({ code: 'PARENT_FAILED', image: s.image, arch: s.arch, message: `${b.image} (${b.arch}), which it is built on, will fail with FOREIGN_ARCH` });
    }
    const plan = warnings.length ? { ...result.plan, warnings } : result.plan;
    output(c, plan, () => formatPlan(plan));
  });
}

