// The order in which a family run starts its images. Parents always come before their children
// (the plan's batches); among images that could start at the same time, the one heading the
// costliest chain of builds below it goes first, so a long subtree (nova-base and its children)
// does not start last and leave one job slot idle at the end of the run. A cold run has no
// timings, so the cost of an image is estimated from what it adds: one plus its new packages.
import type { PlanStep } from '../plan/schema.js';

function keyOf(image: string, arch: string): string {
  return `${image}\u0000${arch}`;
}

/** Estimated work of a step: 0 for a reused image, else 1 + the number of packages it adds. */
export function estimatedCost(step: PlanStep): number {
  return step.kind === 'reuse' ? 0 : 1 + Object.keys(step.inputs.packages).length;
}

/**
 * The steps of a plan in start order: batch by batch (parents first), and within a batch by the
 * estimated cost of the longest chain from the step down to a leaf, highest first (ties keep the
 * plan's order).
 */
export function scheduleOrder(batches: readonly (readonly PlanStep[])[], cost: (step: PlanStep) => number = estimatedCost): PlanStep[] {
  const children = new Map<string, PlanStep[]>();
  for (const step of batches.flat()) {
    if (step.parent.kind !== 'image') continue;
    const k = keyOf(step.parent.name, step.arch);
    const list = children.get(k) ?? [];
    list.push(step);
    children.set(k, list);
  }
  const chain = new Map<string, number>();
  // Children sit in later batches, so walking the batches backwards meets them first.
  for (let b = batches.length - 1; b >= 0; b--) {
    for (const step of batches[b] ?? []) {
      const below = (children.get(keyOf(step.image, step.arch)) ?? []).map((c) => chain.get(keyOf(c.image, c.arch)) ?? 0);
      chain.set(keyOf(step.image, step.arch), cost(step) + Math.max(0, ...below));
    }
  }
  return batches.flatMap((batch) =>
    batch
      .map((step, i) => ({ step, i, weight: chain.get(keyOf(step.image, step.arch)) ?? 0 }))
      .sort((a, b) => b.weight - a.weight || a.i - b.i)
      .map((x) => x.step),
  );
}
