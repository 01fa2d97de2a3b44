// Builds a lading.lock for a family from a small fixed package catalog, for planner and CLI
// tests that need a lock but not the Debian resolver (which has its own tests in src/debian).
import { createHash } from 'node:crypto';
import { lockRequests, type FamilyConfig, type FamilyLock } from '../../src/build/index.js';
import type { LockedAptPackage } from '../../src/debian/index.js';

/** name -> version, dependencies, arch-independent?, essential? */
export type Catalog = Record<string, { version: string; depends?: string[]; all?: boolean; essential?: boolean }>;

/** A catalog covering src/build/testdata/family. */
export const FAMILY_CATALOG: Catalog = {
  'base-files': { version: '12.4+deb12u5', essential: true },
  libc6: { version: '2.36-9+deb12u4', essential: true },
  dpkg: { version: '1.21.22', essential: true, depends: ['libc6'] },
  bash: { version: '5.2.15-2+b2', essential: true, depends: ['base-files', 'libc6'] },
  'ca-certificates': { version: '20230311', all: true, depends: ['openssl'] },
  openssl: { version: '3.0.11-1~deb12u2', depends: ['libc6'] },
  python3: { version: '3.11.2-1+b1', depends: ['python3-minimal'] },
  'python3-minimal': { version: '3.11.2-1+b1', depends: ['libc6'] },
  'python3-yaml': { version: '6.0-3+b2', depends: ['python3'] },
  libjemalloc2: { version: '5.3.0-1' },
  'nginx-light': { version: '1.22.1-9', depends: ['libc6'] },
  'python3-celery': { version: '5.2.6-5', all: true, depends: ['python3'] },
  curl: { version: '7.88.1-10+deb12u5', depends: ['libcurl4'] },
  libcurl4: { version: '7.88.1-10+deb12u5' },
};

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Resolves every image's request against the catalog (dependency closure) into a FamilyLock. */
export function lockFromCatalog(family: FamilyConfig, catalog: Catalog = FAMILY_CATALOG): FamilyLock {
  const req = lockRequests(family);
  const architectures: FamilyLock['architectures'] = {};
  for (const [arch, images] of Object.entries(req.architectures)) {
    const table = new Map<string, LockedAptPackage>();
    const imageLocks: FamilyLock['architectures'][string]['images'] = {};
    for (const [name, r] of Object.entries(images)) {
      const want = [...r.packages, ...(r.essential ? Object.keys(catalog).filter((p) => catalog[p]?.essential) : [])];
      const seen = new Set<string>();
      const visit = (p: string) => {
        if (seen.has(p)) return;
        const c = catalog[p];
        if (!c) throw new Error(`test catalog has no package ${p}`);
        seen.add(p);
        for (const d of c.depends ?? []) visit(d);
      };
      want.forEach(visit);
      const packages: Record<string, string> = {};
      for (const p of [...seen].sort()) {
        const c = catalog[p]!;
        const a = c.all ? 'all' : arch;
        packages[p] = c.version;
        if (table.has(`${p}=${c.version}=${a}`)) continue;
        table.set(`${p}=${c.version}=${a}`, {
          name: p,
          version: c.version,
          architecture: a,
          source: p,
          sourceVersion: c.version,
          filename: `pool/main/${p[0]}/${p}/${p}_${c.version}_${a}.deb`,
          size: 1000 + p.length,
          sha256: sha(`${p} ${c.version} ${a}`),
          uri: 'http://deb.example.org/debian/',
          suite: 'bookworm',
          component: 'main',
          essential: c.essential === true,
          reason: r.packages.includes(p) ? 'requested' : c.essential ? 'essential' : 'dependency',
          depends: [...(c.depends ?? [])].sort(),
        });
      }
      imageLocks[name] = { request: r, packages };
    }
    architectures[arch] = { packages: [...table.values()], images: imageLocks };
  }
  const sources: FamilyLock['sources'] = [
    {
      name: 'http://deb.example.org/debian/ bookworm',
      uri: 'http://deb.example.org/debian/',
      suite: 'bookworm',
      components: ['main'],
      releaseFile: 'InRelease',
      inRelease: `sha256:${sha('InRelease')}`,
      date: '2026-11-01T09:00:00Z',
      signers: [],
      trusted: false,
      checkValidUntil: true,
      indexes: [],
    },
  ];
  return { lockVersion: 1, family: family.project.name, configDigest: req.configDigest, sources, architectures };
}
