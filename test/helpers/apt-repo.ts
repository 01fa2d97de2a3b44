// A real, signed apt repository for tests: real .debs from the test cache (.cache/test-debs,
// filled by scripts/fetch-test-debs), indexed by apt-ftparchive (Debian's own tool), signed by a
// key generated with gpg in a temporary GNUPGHOME, served over HTTP on 127.0.0.1 with by-hash
// paths, ETag/Last-Modified revalidation and hooks to tamper with what is served.
//
//   const repo = await startAptRepo();           // every cached .deb, suite bookworm, main, amd64
//   repo.sourcesFile                              // deb822 .sources with Signed-By: the test key
//   repo.setTamper({ debs: ['curl'] });           // serve curl's .deb with one byte changed
//   await repo.close();
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const execFileP = promisify(execFile);
const projectRoot = new URL('../..', import.meta.url).pathname;

/** The cache of real .debs filled by scripts/fetch-test-debs. */
export const TEST_DEBS_DIR = join(projectRoot, '.cache/test-debs');

/** What to alter in what the server sends (the files on disk stay intact). */
export interface AptRepoTamper {
  /** Rewrites the InRelease text (the signature no longer matches). */
  inRelease?: (text: string) => string;
  /** Serves every Packages variant (named and by-hash) with content that differs from what the Release lists. */
  packages?: boolean;
  /** Serves the .debs of these package names with one byte flipped (same size, other SHA256). */
  debs?: readonly string[];
}

/** Options of startAptRepo. */
export interface AptRepoOptions {
  /** .deb files to publish (default: every .deb in the test cache). */
  debs?: readonly string[];
  /** dists/<suite> (default "bookworm"). */
  suite?: string;
  /** Codename field (default: the suite). */
  codename?: string;
  /** Release Valid-Until (default: 7 days after now; null for none). */
  validUntil?: Date | null;
  /** Release Date (default now). */
  date?: Date;
  /** Acquire-By-Hash and by-hash copies (default true). */
  byHash?: boolean;
  /** Publish InRelease (default true); false leaves only Release + Release.gpg (the older form). */
  inRelease?: boolean;
  /**
   * Where `Architecture: all` packages go: into binary-<arch> (default; the Release lists only
   * <arch>), or only into binary-all ('separate', as some third-party archives do; the Release
   * then lists architecture `all` too).
   */
  allPackages?: 'duplicate' | 'separate';
  /**
   * More architectures to publish (e.g. arm64 on an amd64 host): their indexes hold only the
   * `Architecture: all` packages (the cache has .debs of the host's architecture only).
   */
  extraArchitectures?: readonly string[];
  tamper?: AptRepoTamper;
  /** Hold each .deb response this long, so parallel downloads overlap and show in maxDebsInFlight. */
  debDelayMs?: number;
}

/** A running test repository. */
export interface AptRepo {
  /** Archive root URL, e.g. http://127.0.0.1:41234/debian/ */
  readonly url: string;
  /** The repository directory (dists/, pool/). */
  readonly dir: string;
  readonly suite: string;
  readonly architecture: string;
  /** Binary keyring (gpg --export) with the signing key. */
  readonly keyringPath: string;
  /** The same key, armored. */
  readonly armoredKeyPath: string;
  readonly fingerprint: string;
  /** A deb822 .sources file for this repository (Signed-By: keyringPath). */
  readonly sourcesFile: string;
  readonly sourcesText: string;
  /** Every request served: "<status> <path>" (with If-None-Match requests marked "(conditional)"). */
  readonly requests: string[];
  /** The most .deb requests the server was answering at once. */
  readonly maxDebsInFlight: number;
  /** The published .deb files (paths in the test cache). */
  readonly debs: readonly string[];
  setTamper(t: AptRepoTamper | undefined): void;
  close(): Promise<void>;
}

/** .deb files in the test cache; throws the bootstrap hint when there are none. */
export async function cachedDebs(): Promise<string[]> {
  let names: string[] = [];
  try {
    names = (await readdir(TEST_DEBS_DIR)).filter((n) => n.endsWith('.deb')).sort();
  } catch {
    // reported below
  }
  if (names.length === 0) throw new Error(`no .debs in ${TEST_DEBS_DIR}: run scripts/fetch-test-debs`);
  return names.map((n) => join(TEST_DEBS_DIR, n));
}

/** apt's own choice recorded by scripts/fetch-test-debs: "name=version" lines. */
export async function aptSelectionFromCache(): Promise<string[]> {
  const text = await readFile(join(TEST_DEBS_DIR, 'apt-selection.txt'), 'utf8').catch(() => {
    throw new Error(`${TEST_DEBS_DIR}/apt-selection.txt missing: run scripts/fetch-test-debs`);
  });
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0]!);
}

interface TestKey {
  home: string;
  fingerprint: string;
  binary: Buffer;
  armored: string;
}

let keyPromise: Promise<TestKey> | undefined;

/** One ed25519 signing key per test process, in its own GNUPGHOME (no passphrase). */
export function testSigningKey(): Promise<TestKey> {
  keyPromise ??= (async () => {
    const home = await mkdtemp(join(tmpdir(), 'lading-gnupg-'));
    const gpg = (...args: string[]) => execFileP('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'buffer', maxBuffer: 1 << 24 });
    await gpg('--quick-gen-key', 'lading test archive <apt-test@lading.invalid>', 'ed25519', 'sign', 'never');
    const { stdout } = await gpg('--with-colons', '--list-keys');
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(stdout.toString())?.[1];
    if (!fpr) throw new Error('gpg did not report the fingerprint of the generated key');
    const binary = (await gpg('--export', fpr)).stdout;
    const armored = (await gpg('--armor', '--export', fpr)).stdout.toString();
    process.once('exit', () => {
      // gpg-agent lives per GNUPGHOME; stop it and remove the directory (exit handlers must be synchronous).
      try {
        execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore', timeout: 5000 });
      } catch {
        // best effort
      }
      rmSync(home, { recursive: true, force: true });
    });
    return { home, fingerprint: fpr, binary, armored };
  })();
  return keyPromise;
}

async function sign(key: TestKey, dir: string): Promise<void> {
  const gpg = (...args: string[]) => execFileP('gpg', ['--homedir', key.home, '--batch', '--quiet', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', key.fingerprint, ...args]);
  await gpg('--digest-algo', 'SHA512', '--clearsign', '--output', join(dir, 'InRelease'), join(dir, 'Release'));
  await gpg('--digest-algo', 'SHA512', '--armor', '--detach-sign', '--output', join(dir, 'Release.gpg'), join(dir, 'Release'));
}

function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', 'UTC');
}

async function place(src: string, dest: string): Promise<void> {
  try {
    await link(src, dest);
  } catch {
    try {
      await symlink(src, dest);
    } catch {
      await copyFile(src, dest);
    }
  }
}

async function hostArch(): Promise<string> {
  return (await execFileP('dpkg', ['--print-architecture'])).stdout.trim();
}

/** Builds the repository on disk and serves it. */
export async function startAptRepo(options: AptRepoOptions = {}): Promise<AptRepo> {
  const debs = options.debs ? [...options.debs] : await cachedDebs();
  const suite = options.suite ?? 'bookworm';
  const codename = options.codename ?? suite;
  const arch = await hostArch();
  const dir = await mkdtemp(join(tmpdir(), 'lading-apt-repo-'));
  const pool = join(dir, 'pool/main');
  await mkdir(pool, { recursive: true });
  await Promise.all(debs.map((d) => place(d, join(pool, basename(d)))));

  const dist = join(dir, 'dists', suite);
  const { stdout: allPackages } = await execFileP('apt-ftparchive', ['--arch', arch, 'packages', 'pool/main'], { cwd: dir, maxBuffer: 1 << 28 });
  const separate = options.allPackages === 'separate';
  const stanzas = allPackages.split(/\n\n+/).filter((x) => x.trim());
  const isAll = (x: string) => /^Architecture: all$/m.test(x);
  const indexes: Array<[string, string]> = separate
    ? [
        [arch, `${stanzas.filter((x) => !isAll(x)).join('\n\n')}\n`],
        ['all', `${stanzas.filter(isAll).join('\n\n')}\n`],
      ]
    : [[arch, allPackages]];
  for (const extra of options.extraArchitectures ?? []) indexes.push([extra, `${stanzas.filter(isAll).join('\n\n')}\n`]);
  const packages = indexes[0]![1];
  const byHash = options.byHash ?? true;
  const packagesPaths = new Set<string>();
  for (const [a, text] of indexes) {
    const bin = join(dist, 'main', `binary-${a}`);
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'Packages'), text);
    await writeFile(join(bin, 'Packages.gz'), gzipSync(text, { level: 9 }));
    await execFileP('xz', ['-k', '-6', join(bin, 'Packages')]);
    if (byHash) await mkdir(join(bin, 'by-hash/SHA256'), { recursive: true });
    for (const name of ['Packages', 'Packages.gz', 'Packages.xz']) {
      const data = await readFile(join(bin, name));
      const hex = createHash('sha256').update(data).digest('hex');
      if (byHash) await copyFile(join(bin, name), join(bin, 'by-hash/SHA256', hex));
      packagesPaths.add(`dists/${suite}/main/binary-${a}/${name}`);
      packagesPaths.add(`dists/${suite}/main/binary-${a}/by-hash/SHA256/${hex}`);
    }
  }
  const date = options.date ?? new Date();
  const validUntil = options.validUntil === undefined ? new Date(date.getTime() + 7 * 86400_000) : options.validUntil;
  const cfg = (k: string, v: string) => ['-o', `APT::FTPArchive::Release::${k}=${v}`];
  const { stdout: release } = await execFileP(
    'apt-ftparchive',
    [
      ...cfg('Origin', 'lading-test'),
      ...cfg('Label', 'lading-test'),
      ...cfg('Suite', suite),
      ...cfg('Codename', codename),
      ...cfg('Architectures', [arch, ...(options.extraArchitectures ?? []), ...(separate ? ['all'] : [])].join(' ')),
      ...cfg('Components', 'main'),
      ...cfg('Description', 'lading test repository'),
      ...cfg('Date', rfc2822(date)),
      // apt-ftparchive writes Valid-Until as now + ValidTime seconds.
      ...(validUntil ? cfg('ValidTime', String(Math.max(1, Math.round((validUntil.getTime() - Date.now()) / 1000)))) : []),
      ...(byHash ? cfg('Acquire-By-Hash', 'yes') : []),
      'release',
      '.',
    ],
    { cwd: dist, maxBuffer: 1 << 24 },
  );
  await writeFile(join(dist, 'Release'), release);
  const key = await testSigningKey();
  await sign(key, dist);
  if (options.inRelease === false) await rm(join(dist, 'InRelease'));
  const keyringPath = join(dir, 'test-archive-keyring.gpg');
  const armoredKeyPath = join(dir, 'test-archive-keyring.asc');
  await writeFile(keyringPath, key.binary);
  await writeFile(armoredKeyPath, key.armored);

  let tamper = options.tamper;
  const requests: string[] = [];
  let debsInFlight = 0;
  let maxDebsInFlight = 0;
  const tamperedPackages = new Map<string, Buffer>();
  const alteredPackages = async (path: string, original: Buffer): Promise<Buffer> => {
    // A valid index of the same form whose content differs: one version string changed.
    const text = packages.replace(/^Version: (.*)$/m, 'Version: $1+tampered');
    if (path.endsWith('.gz') || original[0] === 0x1f) return gzipSync(text);
    if (original[0] === 0xfd) {
      const out = tamperedPackages.get('xz');
      if (out) return out;
      const xz = await new Promise<Buffer>((resolve, reject) => {
        const p = spawn('xz', ['-c']);
        const chunks: Buffer[] = [];
        p.stdout.on('data', (c: Buffer) => chunks.push(c));
        p.on('error', reject);
        p.on('close', () => resolve(Buffer.concat(chunks)));
        p.stdin.end(text);
      });
      tamperedPackages.set('xz', xz);
      return xz;
    }
    return Buffer.from(text);
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let rel = decodeURIComponent(url.pathname);
      if (!rel.startsWith('/debian/')) {
        res.writeHead(404).end();
        requests.push(`404 ${rel}`);
        return;
      }
      rel = rel.slice('/debian/'.length);
      const file = join(dir, rel);
      if (relative(dir, file).startsWith('..')) {
        res.writeHead(403).end();
        return;
      }
      let body: Buffer;
      let mtime: Date;
      try {
        const st = await stat(file);
        if (!st.isFile()) throw new Error('not a file');
        body = await readFile(file);
        mtime = st.mtime;
      } catch {
        res.writeHead(404).end();
        requests.push(`404 ${rel}`);
        return;
      }
      if (tamper?.inRelease && rel === `dists/${suite}/InRelease`) body = Buffer.from(tamper.inRelease(body.toString('utf8')));
      if (tamper?.packages && packagesPaths.has(rel)) body = await alteredPackages(rel, body);
      if (tamper?.debs && rel.endsWith('.deb') && tamper.debs.includes(basename(rel).split('_')[0]!)) {
        body = Buffer.from(body);
        const i = Math.floor(body.length / 2);
        body[i] = body[i]! ^ 0xff;
      }
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      const lastModified = new Date(Math.floor(mtime.getTime() / 1000) * 1000).toUTCString();
      const conditional = req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined;
      if (req.headers['if-none-match'] === etag || (!req.headers['if-none-match'] && req.headers['if-modified-since'] === lastModified)) {
        res.writeHead(304, { etag, 'last-modified': lastModified }).end();
        requests.push(`304 ${rel} (conditional)`);
        return;
      }
      if (rel.endsWith('.deb')) {
        maxDebsInFlight = Math.max(maxDebsInFlight, ++debsInFlight);
        res.once('close', () => debsInFlight--);
        if (options.debDelayMs) await new Promise((r) => setTimeout(r, options.debDelayMs));
      }
      res.writeHead(200, { 'content-length': body.length, etag, 'last-modified': lastModified, 'content-type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
      requests.push(`200 ${rel}${conditional ? ' (conditional)' : ''}`);
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/debian/`;
  const sourcesText = `Types: deb\nURIs: ${url}\nSuites: ${suite}\nComponents: main\nSigned-By: ${keyringPath}\n`;
  const sourcesFile = join(dir, 'test.sources');
  await writeFile(sourcesFile, sourcesText);
  return {
    url,
    dir,
    suite,
    architecture: arch,
    keyringPath,
    armoredKeyPath,
    fingerprint: key.fingerprint,
    sourcesFile,
    sourcesText,
    requests,
    get maxDebsInFlight() {
      return maxDebsInFlight;
    },
    debs,
    setTamper: (t) => {
      tamper = t;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A private apt configuration pointing at a repository: empty dpkg status, own lists, the test key. */
export interface AptGet {
  /** Runs apt-get with this configuration; resolves to stdout. */
  run(args: readonly string[]): Promise<string>;
  /** `apt-get install --simulate --no-install-recommends` into the empty status: sorted "name=version" lines. */
  simulateInstall(packages: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Sets up apt-get (real apt from Debian) against deb822 `sources` text, or against sources files
 * (`.sources` or one-line `.list`), and runs `apt-get update` into a private lists directory.
 */
export async function aptGetFor(sources: string | { files: readonly string[] }, architecture?: string): Promise<AptGet> {
  const arch = architecture ?? (await hostArch());
  const tmp = await mkdtemp(join(tmpdir(), 'lading-apt-get-'));
  for (const d of ['sources.list.d', 'conf.d', 'prefs.d', 'lists/partial', 'cache/archives/partial']) await mkdir(join(tmp, d), { recursive: true });
  await writeFile(join(tmp, 'status'), '');
  if (typeof sources === 'string') await writeFile(join(tmp, 'sources.list.d/test.sources'), sources);
  else {
    let i = 0;
    for (const f of sources.files) await copyFile(f, join(tmp, 'sources.list.d', `${i++}-${basename(f).replace(/\.(list|sources)$/, '')}${f.endsWith('.sources') ? '.sources' : '.list'}`));
  }
  const conf = [
    `Dir::Etc::main "/dev/null";`,
    `Dir::Etc::parts "${tmp}/conf.d";`,
    `Dir::Etc::sourcelist "/dev/null";`,
    `Dir::Etc::sourceparts "${tmp}/sources.list.d";`,
    `Dir::Etc::preferences "/dev/null";`,
    `Dir::Etc::preferencesparts "${tmp}/prefs.d";`,
    `Dir::State::lists "${tmp}/lists";`,
    `Dir::State::status "${tmp}/status";`,
    `Dir::Cache "${tmp}/cache";`,
    `Debug::NoLocking "true";`,
    `APT::Sandbox::User "root";`,
    `APT::Architecture "${arch}";`,
    `APT::Architectures { "${arch}"; };`,
    `APT::Install-Recommends "false";`,
    `Acquire::Languages "none";`,
  ].join('\n');
  await writeFile(join(tmp, 'apt.conf'), `${conf}\n`);
  const env = { ...process.env, APT_CONFIG: join(tmp, 'apt.conf'), DEBIAN_FRONTEND: 'noninteractive' };
  const run = async (args: readonly string[]) => (await execFileP('apt-get', [...args], { env, maxBuffer: 1 << 26 })).stdout;
  await run(['-q', 'update']);
  return {
    run,
    simulateInstall: async (packages) => {
      const out = await run(['-qq', 'install', '--simulate', '--no-install-recommends', '-y', ...packages]);
      return out
        .split('\n')
        .map((l) => /^Inst (\S+) \((\S+) /.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => `${m[1]}=${m[2]}`)
        .sort();
    },
    close: () => rm(tmp, { recursive: true, force: true }),
  };
}
