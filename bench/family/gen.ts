// Writes bench/family/dockerfiles/<image>/Dockerfile from examples/openstack/lading.yaml (read
// with lading's own loadFamily), removing the Dockerfiles of images the family no longer has.
// bench/family runs this before building, so the committed files are what was measured.
//   node --import tsx bench/family/gen.ts            write them
//   node --import tsx bench/family/gen.ts --check    exit 1 when the committed files are stale
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchArgs } from '../args.js';
import { pathToFileURL } from 'node:url';
import { loadFamily, type FamilyConfig } from '../../src/build/index.js';
import { ROOT } from '../build/peers.js';
import { familyDockerfiles } from './dockerfiles.js';

/** The family bench/family measures. */
export const FAMILY_CONFIG = 'examples/openstack/lading.yaml';
/** Where the generated Dockerfiles live. */
export const DOCKERFILES_DIR = join(ROOT, 'bench/family/dockerfiles');

/** Options of generateDockerfiles(). */
export interface GenerateOptions {
  /** Only compare; write nothing. */
  readonly check?: boolean;
  readonly signal?: AbortSignal;
}

/** What generateDockerfiles() did. */
export interface Generated {
  readonly family: FamilyConfig;
  readonly arch: string;
  /** Images in build order, with the path of their Dockerfile and their parent in the family. */
  readonly images: { name: string; parent: string | undefined; dockerfile: string }[];
  /** Files that were (or, with check, would be) written or removed. */
  readonly changed: string[];
}

/** Reads the family and writes (or checks) one Dockerfile per image. */
export async function generateDockerfiles(options: GenerateOptions = {}): Promise<Generated> {
  const loaded = await loadFamily({ configPath: FAMILY_CONFIG, cwd: ROOT, ...(options.signal ? { signal: options.signal } : {}) });
  const family = loaded.family;
  const arch = family.architectures[0];
  if (arch === undefined) throw new Error(`${FAMILY_CONFIG}: no architectures`);
  const files = familyDockerfiles(family, arch);
  const changed: string[] = [];
  for (const f of files) {
    const path = join(DOCKERFILES_DIR, f.name, 'Dockerfile');
    const old = existsSync(path) ? await readFile(path, 'utf8') : undefined;
    if (old === f.text) continue;
    changed.push(path);
    if (!options.check) {
      await mkdir(join(DOCKERFILES_DIR, f.name), { recursive: true });
      await writeFile(path, f.text);
    }
  }
  if (existsSync(DOCKERFILES_DIR)) {
    for (const d of await readdir(DOCKERFILES_DIR)) {
      if (files.some((f) => f.name === d)) continue;
      changed.push(join(DOCKERFILES_DIR, d));
      if (!options.check) await rm(join(DOCKERFILES_DIR, d), { recursive: true, force: true });
    }
  }
  return { family, arch, images: files.map((f) => ({ name: f.name, parent: f.parent, dockerfile: join(DOCKERFILES_DIR, f.name, 'Dockerfile') })), changed };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = benchArgs('bench/family/gen', { options: { check: { type: 'boolean', default: false } } });
  const g = await generateDockerfiles({ check: values.check });
  if (values.check && g.changed.length > 0) {
    console.error(`bench/family: the Dockerfiles are stale (${g.changed.join(', ')}); run node --import tsx bench/family/gen.ts`);
    process.exit(1);
  }
  console.log(`bench/family: ${g.images.length} Dockerfiles for ${g.arch} in ${DOCKERFILES_DIR}${g.changed.length > 0 ? ` (${values.check ? 'stale' : 'updated'}: ${g.changed.length})` : ' (up to date)'}`);
}
