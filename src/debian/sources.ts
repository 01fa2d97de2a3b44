// apt sources: the one-line `sources.list` format and the deb822 `.sources` format
// (sources.list(5)); the default is the machine's /etc/apt configuration (never a built-in mirror).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, redactUrl } from '../core/index.js';
import { parseDeb822, splitWords, type Deb822Paragraph } from './deb822.js';
import { DebianError } from './errors.js';

/**
 * Which keys may sign a source's Release (sources.list(5) `Signed-By`): keyring files and/or an
 * inline armored key block, optionally narrowed to fingerprints. Absent on a source: apt's
 * default trusted keyrings (/etc/apt/trusted.gpg and trusted.gpg.d/).
 */
export interface SignedBy {
  /** Absolute paths of binary (.gpg) or armored (.asc) keyrings. */
  readonly keyrings: readonly string[];
  /** An armored public key block written inside the .sources file. */
  readonly inline?: string;
  /** Only keys (or subkeys) with these fingerprints count (upper-case hex, no spaces). */
  readonly fingerprints: readonly string[];
}

/** One archive root + distribution, as configured. A deb822 stanza with several URIs/Suites yields several. */
export interface AptSource {
  /** Archive root with a trailing slash; may carry credentials, so log only `redactUrl(uri)`. */
  readonly uri: string;
  /** The distribution (`dists/<suite>/`) as written: codename or suite name. */
  readonly suite: string;
  readonly components: readonly string[];
  /** `arch=` / `Architectures:`: the only architectures this source serves (undefined: all the Release lists). */
  readonly architectures?: readonly string[];
  /** `arch-=`: architectures this source must not be used for. */
  readonly excludeArchitectures?: readonly string[];
  readonly signedBy?: SignedBy;
  /** `trusted=yes`: the signature is not required (hashes still are). Recorded in the lock. */
  readonly trusted: boolean;
  /** `check-valid-until=no` (snapshots) turns off the Valid-Until check. Recorded in the lock. */
  readonly checkValidUntil: boolean;
  /** `check-date=no` turns off the Date-not-in-the-future check. */
  readonly checkDate: boolean;
  /** `by-hash=`: force (true) or forbid (false) by-hash fetches; undefined follows the Release. */
  readonly byHash?: boolean;
  /** Where it was configured: "file:line". */
  readonly definedAt: string;
}

/** Parsed sources plus entries skipped on purpose (deb-src, disabled, unsupported), for warnings. */
export interface ParsedSources {
  readonly sources: AptSource[];
  readonly warnings: string[];
}

const SCHEMES = new Set(['http:', 'https:', 'file:']);
const FINGERPRINT = /^[0-9A-Fa-f]{40}!?$|^[0-9A-Fa-f]{16}!?$/;

function parseBool(value: string, what: string): boolean {
  const v = value.trim().toLowerCase();
  if (['yes', 'true', 'with', 'on', 'enable', '1'].includes(v)) return true;
  if (['no', 'false', 'without', 'off', 'disable', '0'].includes(v)) return false;
  throw new DebianError('SOURCES_INVALID', `${what}: expected yes or no, got ${JSON.stringify(value)}`);
}

function normaliseUri(raw: string, what: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DebianError('SOURCES_INVALID', `${what}: invalid URI ${JSON.stringify(redactUrl(raw))}`);
  }
  if (!SCHEMES.has(url.protocol)) return undefined;
  let s = url.toString();
  if (!s.endsWith('/')) s += '/';
  return s;
}

/** Parses a Signed-By value: paths and fingerprints separated by commas or spaces, or an armored key block. */
export function parseSignedBy(value: string, what: string): SignedBy {
  const v = value.trim();
  if (v.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    // deb822 continuation lines: " ." stands for an empty line (deb822.ts keeps it as ".").
    const armored = v
      .split('\n')
      .map((l) => (l.trim() === '.' ? '' : l.trim()))
      .join('\n')
      .trim();
    return { keyrings: [], inline: `${armored}\n`, fingerprints: [] };
  }
  const keyrings: string[] = [];
  const fingerprints: string[] = [];
  for (const word of v.split(/[\s,]+/).filter(Boolean)) {
    if (word.startsWith('/')) keyrings.push(word);
    else if (FINGERPRINT.test(word)) fingerprints.push(word.replace(/!$/, '').toUpperCase());
    else throw new DebianError('SOURCES_INVALID', `${what}: Signed-By entry ${JSON.stringify(word)} is neither an absolute keyring path nor a key fingerprint`);
  }
  if (keyrings.length === 0 && fingerprints.length === 0) throw new DebianError('SOURCES_INVALID', `${what}: empty Signed-By`);
  return { keyrings, fingerprints };
}

interface Common {
  architectures?: string[];
  excludeArchitectures?: string[];
  signedBy?: SignedBy;
  trusted: boolean;
  checkValidUntil: boolean;
  checkDate: boolean;
  byHash?: boolean;
}

function expand(uris: string[], suites: string[], components: string[], common: Common, definedAt: string, warnings: string[]): AptSource[] {
  const out: AptSource[] = [];
  for (const rawUri of uris) {
    const uri = normaliseUri(rawUri, definedAt);
    if (!uri) {
      warnings.push(`${definedAt}: skipping ${redactUrl(rawUri)}: only http, https and file URIs are supported`);
      continue;
    }
    for (const suite of suites) {
      if (suite.endsWith('/')) {
        // NOTE: flat repositories ("deb uri ./") have no dists/ tree; not needed for Debian images.
        warnings.push(`${definedAt}: skipping flat repository ${redactUrl(uri)} ${suite}: not supported`);
        continue;
      }
      if (components.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: ${redactUrl(uri)} ${suite}: no components`);
      out.push({ uri, suite, components: [...components], ...common, definedAt });
    }
  }
  return out;
}

/** Parses the one-line format: `deb [ opt=value ... ] uri suite component...` per line. */
export function parseSourcesList(text: string, what: string): ParsedSources {
  const sources: AptSource[] = [];
  const warnings: string[] = [];
  text.split('\n').forEach((rawLine, i) => {
    const definedAt = `${what}:${i + 1}`;
    const line = rawLine.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^(\S+)\s*(?:\[([^\]]*)\])?\s*(.*)$/.exec(line);
    const type = m?.[1];
    if (!m || !type) throw new DebianError('SOURCES_INVALID', `${definedAt}: cannot parse ${JSON.stringify(redactUrl(line))}`);
    if (type === 'deb-src') return;
    if (type !== 'deb') throw new DebianError('SOURCES_INVALID', `${definedAt}: unknown type ${JSON.stringify(type)} (want deb or deb-src)`);
    const common: Common = { trusted: false, checkValidUntil: true, checkDate: true };
    for (const opt of splitWords(m[2])) {
      const om = /^([A-Za-z]+(?:-[A-Za-z]+)*)([+-]?=)(.*)$/.exec(opt);
      if (!om) throw new DebianError('SOURCES_INVALID', `${definedAt}: malformed option ${JSON.stringify(opt)}`);
      const [, key, assign, value] = om as unknown as [string, string, string, string];
      applyOption(common, key.toLowerCase(), assign, value, definedAt);
    }
    const [uri, suite, ...components] = splitWords(m[3]);
    if (!uri || !suite) throw new DebianError('SOURCES_INVALID', `${definedAt}: want "deb [options] uri suite component..."`);
    sources.push(...expand([uri], [suite], components, common, definedAt, warnings));
  });
  return { sources, warnings };
}

function applyOption(common: Common, key: string, assign: string, value: string, definedAt: string): void {
  const what = `${definedAt}: option ${key}`;
  switch (key) {
    case 'arch':
    case 'architectures': {
      const list = value.split(/[,\s]+/).filter(Boolean);
      if (assign === '-=') common.excludeArchitectures = list;
      else if (assign === '=') common.architectures = list;
      // arch+= adds to apt's default set; lading resolves only the architectures it is asked for.
      break;
    }
    case 'signed-by':
      common.signedBy = parseSignedBy(value, what);
      break;
    case 'trusted':
      common.trusted = parseBool(value, what);
      break;
    case 'check-valid-until':
      common.checkValidUntil = parseBool(value, what);
      break;
    case 'check-date':
      common.checkDate = parseBool(value, what);
      break;
    case 'by-hash':
      common.byHash = value.toLowerCase() === 'force' ? true : parseBool(value, what);
      break;
    default:
      // lang, target, pdiffs, allow-insecure, valid-until-min/max, ...: not relevant to Packages indexes.
      break;
  }
}

const DEB822_OPTIONS: Record<string, string> = {
  architectures: 'arch',
  'signed-by': 'signed-by',
  trusted: 'trusted',
  'check-valid-until': 'check-valid-until',
  'check-date': 'check-date',
  'by-hash': 'by-hash',
};

/** Parses the deb822 format (`Types:`, `URIs:`, `Suites:`, `Components:`, options as fields). */
export function parseDeb822Sources(text: string, what: string): ParsedSources {
  const sources: AptSource[] = [];
  const warnings: string[] = [];
  for (const p of parseDeb822(text, { what, comments: true })) {
    const definedAt = `${what}:${p.line}`;
    const field = (name: string) => p.get(name);
    if (field('Enabled') !== undefined && !parseBool(field('Enabled')!, `${definedAt}: Enabled`)) continue;
    const types = splitWords(field('Types'));
    if (types.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: missing Types`);
    for (const t of types) {
      if (t !== 'deb' && t !== 'deb-src') throw new DebianError('SOURCES_INVALID', `${definedAt}: unknown type ${JSON.stringify(t)}`);
    }
    if (!types.includes('deb')) continue;
    const uris = splitWords(field('URIs'));
    const suites = splitWords(field('Suites'));
    if (uris.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: missing URIs`);
    if (suites.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: missing Suites`);
    const common: Common = { trusted: false, checkValidUntil: true, checkDate: true };
    applyDeb822Options(p, common, definedAt);
    sources.push(...expand(uris, suites, splitWords(field('Components')), common, definedAt, warnings));
  }
  return { sources, warnings };
}

function applyDeb822Options(p: Deb822Paragraph, common: Common, definedAt: string): void {
  for (const f of p.fields) {
    const key = DEB822_OPTIONS[f.name.toLowerCase()];
    if (!key) continue;
    const at = `${definedAt.replace(/:\d+$/, '')}:${f.line}`;
    if (key === 'signed-by') common.signedBy = parseSignedBy(f.value, `${at}: Signed-By`);
    else applyOption(common, key, '=', f.value.replace(/\n/g, ' '), at);
  }
}

/** Parses a sources file by name: `*.sources` is deb822, anything else the one-line format. */
export function parseSourcesText(text: string, fileName: string): ParsedSources {
  return fileName.endsWith('.sources') ? parseDeb822Sources(text, fileName) : parseSourcesList(text, fileName);
}

/** Options of loadSources. */
export interface LoadSourcesOptions {
  /** Sources files to read instead of the machine's configuration. */
  files?: readonly string[];
  /** Root of the machine configuration (default "/"; tests point it at a fake tree). */
  root?: string;
  signal?: AbortSignal;
}

/**
 * Reads apt sources: the given files, or by default the machine's `/etc/apt/sources.list` and
 * `/etc/apt/sources.list.d/*.list|*.sources` in apt's order (sources.list first, then the parts
 * sorted by name; other file names are ignored, as apt does).
 */
export async function loadSources(options: LoadSourcesOptions = {}): Promise<ParsedSources> {
  const files: string[] = [];
  if (options.files?.length) files.push(...options.files);
  else {
    const etc = join(options.root ?? '/', 'etc/apt');
    files.push(join(etc, 'sources.list'));
    try {
      const parts = (await readdir(join(etc, 'sources.list.d'))).filter((n) => /^[A-Za-z0-9_.-]+\.(list|sources)$/.test(n)).sort();
      files.push(...parts.map((n) => join(etc, 'sources.list.d', n)));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  const sources: AptSource[] = [];
  const warnings: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, { encoding: 'utf8', signal: options.signal });
    } catch (err) {
      // The machine's sources.list may legitimately be absent (Debian 12 containers use .sources only).
      if (errnoCode(err) === 'ENOENT' && !options.files?.length) continue;
      throw new DebianError('SOURCES_INVALID', `reading apt sources ${file}: ${(err as Error).message}`, { cause: err });
    }
    const parsed = parseSourcesText(text, file);
    sources.push(...parsed.sources);
    warnings.push(...parsed.warnings);
  }
  if (sources.length === 0) {
    throw new DebianError('SOURCES_INVALID', `no apt sources (deb) in ${files.join(', ') || '/etc/apt'}`, {
      hint: 'configure apt sources on this machine or pass --sources FILE',
    });
  }
  return { sources, warnings };
}

/** Options of selectSources. */
export interface SelectSourcesOptions {
  /** Keep only sources whose configured suite is one of these (e.g. bookworm, bookworm-security). */
  suites?: readonly string[];
}

/** Narrows sources by suite; a requested suite that matches nothing is an error naming what exists. */
export function selectSources(sources: readonly AptSource[], options: SelectSourcesOptions): AptSource[] {
  if (!options.suites?.length) return [...sources];
  const want = new Set(options.suites);
  const out = sources.filter((s) => want.has(s.suite));
  const have = new Set(sources.map((s) => s.suite));
  const missing = [...want].filter((s) => !have.has(s));
  if (missing.length) {
    throw new DebianError('SOURCES_INVALID', `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not a configured suite (configured: ${[...have].join(', ') || 'none'})`);
  }
  return out;
}

/** A stable, credential-free name of a source for messages and the lock: "<uri> <suite>". */
export function sourceName(s: Pick<AptSource, 'uri' | 'suite'>): string {
  return `${redactUrl(stripCredentials(s.uri))} ${s.suite}`;
}

/** The URI without user-info (credentials never go into locks or logs). */
export function stripCredentials(uri: string): string {
  try {
    const u = new URL(uri);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return uri;
  }
}
