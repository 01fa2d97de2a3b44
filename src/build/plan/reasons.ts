// Why an image rebuilds: the differences between the inputs of its previous build and now,
// in words a person can act on ("package python3-keystone 2:23.0.0-0 -> 2:23.0.1-0").
import { canonicalJson, shortDigest } from '../../core/index.js';
import { KEYED } from '../config/override.js';
import type { InputManifest, Reason } from './schema.js';

const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

function diffKeys(prefix: string, a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => !same(a[k], b[k])).map((k) => `${prefix}${k}`);
}

function definitionReasons(prev: Record<string, unknown>, cur: Record<string, unknown>): Reason[] {
  const out: Reason[] = [];
  for (const key of [...new Set([...Object.keys(prev), ...Object.keys(cur)])].sort()) {
    const a = prev[key];
    const b = cur[key];
    if (same(a, b)) continue;
    const keyed = Object.hasOwn(KEYED, key) ? KEYED[key as keyof typeof KEYED] : undefined;
    if (keyed && Array.isArray(a) && Array.isArray(b)) {
      const byKey = (l: unknown[]) => new Map(l.map((s) => [keyed.key(s as Record<string, unknown>), s as Record<string, unknown>]));
      const ma = byKey(a);
      const mb = byKey(b);
      const parts: string[] = [];
      for (const [n, s] of mb) {
        const old = ma.get(n);
        if (!old) parts.push(`${keyed.noun} ${n} added`);
        else if (!same(old, s)) {
          // Name the fields (a file's mode, a step's env), so the reason says what to look at.
          const fields = diffKeys('', old, s);
          parts.push(`${keyed.noun} ${n} changed${key === 'run' ? '' : ` (${fields.join(', ')})`}`);
        }
      }
      for (const n of ma.keys()) if (!mb.has(n)) parts.push(`${keyed.noun} ${n} removed`);
      if (parts.length === 0) parts.push(`${keyed.plural} reordered`);
      for (const p of parts) out.push({ code: 'definition', message: p });
    } else if ((key === 'own' || key === 'project') && a && b && typeof a === 'object' && typeof b === 'object') {
      const inner = diffKeys(key === 'own' ? '' : 'project.', a as Record<string, unknown>, b as Record<string, unknown>);
      for (const k of inner) out.push({ code: 'definition', message: `${k} changed` });
    } else {
      out.push({ code: 'definition', message: `${key} changed` });
    }
  }
  return out;
}

/**
 * Reasons an image rebuilds, comparing the inputs recorded with its previous build to the
 * current ones. `parentRebuilt` says whether the family parent is built in the same plan.
 */
export function diffInputs(prev: InputManifest, cur: InputManifest, parentRebuilt: boolean): Reason[] {
  const out: Reason[] = [];
  if (prev.layerFormat !== cur.layerFormat) out.push({ code: 'layer-format', message: `lading layer format ${prev.layerFormat} -> ${cur.layerFormat}` });
  const pp = prev.parent;
  const cp = cur.parent;
  if (cp.kind === 'image' && pp.kind === 'image' && pp.name === cp.name) {
    if (pp.inputHash !== cp.inputHash) out.push({ code: 'parent', message: `parent ${cp.name} ${parentRebuilt ? 'rebuilt' : 'changed'}` });
  } else if (!same(pp, cp)) {
    const show = (p: typeof cp) => (p.kind === 'scratch' ? 'scratch' : p.kind === 'image' ? p.name : `${p.reference}`);
    out.push({ code: cp.kind === 'image' || pp.kind === 'image' ? 'parent' : 'base', message: `base ${show(pp)} -> ${show(cp)}` });
  }
  for (const name of [...new Set([...Object.keys(prev.packages), ...Object.keys(cur.packages)])].sort()) {
    const a = prev.packages[name];
    const b = cur.packages[name];
    if (a && !b) out.push({ code: 'package-removed', message: `package ${name} ${a.version} removed` });
    else if (!a && b) out.push({ code: 'package-added', message: `package ${name} ${b.version} added` });
    else if (a && b && a.version !== b.version) out.push({ code: 'package-changed', message: `package ${name} ${a.version} -> ${b.version}` });
    else if (a && b && a.sha256 !== b.sha256) out.push({ code: 'package-changed', message: `package ${name} ${b.version}: different .deb (sha256 ${a.sha256.slice(0, 12)} -> ${b.sha256.slice(0, 12)})` });
  }
  for (const src of [...new Set([...Object.keys(prev.files), ...Object.keys(cur.files)])].sort()) {
    const a = prev.files[src];
    const b = cur.files[src];
    if (a && !b) out.push({ code: 'file-removed', message: `file ${src} no longer copied` });
    else if (!a && b) out.push({ code: 'file-added', message: `file ${src} added` });
    else if (a && b && !same(a, b)) {
      out.push({ code: 'file-changed', message: `file ${src} changed${a.digest !== b.digest ? ` (${shortDigest(a.digest)} -> ${shortDigest(b.digest)})` : ' (executable bit)'}` });
    }
  }
  out.push(...definitionReasons(prev.definition, cur.definition));
  if (!same(prev.epoch, cur.epoch)) out.push({ code: 'epoch', message: `sourceDateEpoch ${prev.epoch} -> ${cur.epoch}` });
  if (prev.image !== cur.image || prev.arch !== cur.arch) out.push({ code: 'inputs', message: `record of ${prev.image}/${prev.arch} compared with ${cur.image}/${cur.arch}` });
  if (out.length === 0) out.push({ code: 'inputs', message: 'inputs changed' });
  return out;
}
