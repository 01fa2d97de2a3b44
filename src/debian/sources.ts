// apt sources: the one-line `sources.list` format and the deb822 `.sources` format
// (sources.list(5)); the default is the machine's /etc/apt configuration (never a built-in mirror).
// apt 2.6 is the reference: lading never uses a source apt would not use, nor trusts what apt
// would not trust, and says why (file:line) where it refuses or ignores something.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fsReason, redactText, redactUrl } from '../core/index.js';
import { parseDeb822, splitWords } from './deb822.js';
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
  /**
   * Only these keys count: 40 upper-case hex digits, a primary key's fingerprint standing for the
   * key and its subkeys, a subkey's for that subkey; a trailing "!" means exactly that key.
   */
  readonly fingerprints: readonly string[];
}

/** One archive root + distribution, as configured. A deb822 stanza with several URIs/Suites yields several. */
export interface AptSource {
  /** Archive root with a trailing slash; may carry credentials, so log only `redactUrl(uri)`. */
  readonly uri: string;
  /** The distribution (`dists/<suite>/`) as written: codename or suite name. */
  readonly suite: string;
  readonly components: readonly string[];
  /**
   * `arch=` / `Architectures:` (plus `arch+=` / `Architectures-Add:`): the only architectures this
   * source serves (undefined: all the Release lists).
   */
  readonly architectures?: readonly string[];
  /** `arch-=` / `Architectures-Remove:`: architectures this source must not be used for. */
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
// apt refuses anything but a full fingerprint ("not a fingerprint"): a short key ID can be forged.
const FINGERPRINT = /^[0-9A-Fa-f]{40}!?$/;
const BOM = '\ufeff';

/**
 * apt's option names in the one-line format (sources.list(5); case-sensitive there). Only the
 * multi-value ones take `+=` / `-=`; apt keeps any other name in a map nobody reads.
 */
const MULTI_VALUE = new Set(['arch', 'lang', 'target']);
const ONE_LINE_OPTIONS = new Set([
  ...MULTI_VALUE,
  'pdiffs',
  'by-hash',
  'allow-insecure',
  'allow-weak',
  'allow-downgrade-to-insecure',
  'trusted',
  'signed-by',
  'check-valid-until',
  'valid-until-min',
  'valid-until-max',
  'check-date',
  'date-max-future',
  'inrelease-path',
  'snapshot',
]);

/** deb822 field (lower-case; field names are case-insensitive) -> the one-line option it sets. */
const DEB822_FIELDS: Record<string, string> = {
  architectures: 'arch',
  'architectures-add': 'arch+',
  'architectures-remove': 'arch-',
  languages: 'lang',
  'languages-add': 'lang+',
  'languages-remove': 'lang-',
  targets: 'target',
  'targets-add': 'target+',
  'targets-remove': 'target-',
  ...Object.fromEntries([...ONE_LINE_OPTIONS].filter((o) => !MULTI_VALUE.has(o)).map((o) => [o, o])),
};

function parseBool(value: string, what: string): boolean {
  const v = value.trim().toLowerCase();
  if (['yes', 'true', 'with', 'on', 'enable', '1'].includes(v)) return true;
  if (['no', 'false', 'without', 'off', 'disable', '0'].includes(v)) return false;
  throw new DebianError('SOURCES_INVALID', `${what}: expected yes or no, got ${JSON.stringify(value)}`);
}

/**
 * Text that may hold a URI apt would take but `new URL` cannot parse, for messages: everything
 * between `://` and the last `@` of the word is hidden (a password may hold an unencoded "/",
 * which ends the authority early and defeats URL-based redaction).
 */
function hideUserInfo(text: string): string {
  return redactText(text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s"'\]]*@/g, '$1***@'));
}

function parseUri(raw: string, what: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new DebianError('SOURCES_INVALID', `${what}: invalid URI ${JSON.stringify(hideUserInfo(raw))}`);
  }
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
    else if (FINGERPRINT.test(word)) fingerprints.push(word.toUpperCase());
    else if (/^(?:0x)?[0-9A-Fa-f]{8,39}!?$/.test(word)) {
      throw new DebianError('SOURCES_INVALID', `${what}: Signed-By entry ${JSON.stringify(word)} is not a fingerprint: apt takes only full 40-hex-digit fingerprints (a short key ID can be forged)`);
    } else throw new DebianError('SOURCES_INVALID', `${what}: Signed-By entry ${JSON.stringify(word)} is neither an absolute keyring path nor a key fingerprint`);
  }
  if (keyrings.length === 0 && fingerprints.length === 0) throw new DebianError('SOURCES_INVALID', `${what}: empty Signed-By`);
  return { keyrings, fingerprints };
}

/** An option as written: its value, where, and how to name it in messages. */
interface WrittenOption {
  readonly value: string;
  readonly at: string;
  readonly label: string;
}

/** The options of one line or stanza, by apt's one-line name ("arch+" for `arch+=`); a later one replaces an earlier one, as in apt. */
type Options = Map<string, WrittenOption>;

interface Common {
  architectures?: string[];
  excludeArchitectures?: string[];
  signedBy?: SignedBy;
  trusted: boolean;
  checkValidUntil: boolean;
  checkDate: boolean;
  byHash?: boolean;
}

function list(o: WrittenOption | undefined): string[] {
  return o ? o.value.split(/[,\s]+/).filter(Boolean) : [];
}

/** What the options mean for lading (apt's parsePlusMinusArchOptions: base, then +, then -). */
function interpret(options: Options): Common {
  const opt = (k: string) => options.get(k);
  const common: Common = { trusted: false, checkValidUntil: true, checkDate: true };
  const minus = list(opt('arch-'));
  const base = opt('arch');
  // Without arch=, apt's base set is the machine's architectures; lading's is the ones asked for,
  // so arch+= then adds nothing lading would not resolve anyway.
  if (base) common.architectures = [...new Set([...list(base), ...list(opt('arch+'))])].filter((a) => !minus.includes(a));
  if (minus.length) common.excludeArchitectures = minus;
  const sb = opt('signed-by');
  if (sb) common.signedBy = parseSignedBy(sb.value, `${sb.at}: ${sb.label}`);
  const bool = (k: string, fallback: boolean) => {
    const o = opt(k);
    return o ? parseBool(o.value, `${o.at}: ${o.label}`) : fallback;
  };
  common.trusted = bool('trusted', false);
  common.checkValidUntil = bool('check-valid-until', true);
  common.checkDate = bool('check-date', true);
  const bh = opt('by-hash');
  if (bh) common.byHash = bh.value.trim().toLowerCase() === 'force' ? true : parseBool(bh.value, `${bh.at}: ${bh.label}`);
  return common;
}

/** One URI + suite of a line or stanza, deb or deb-src, before the list-wide checks. */
interface Entry {
  readonly type: 'deb' | 'deb-src';
  /** Normalised URI (trailing slash), or undefined when it does not parse (deb-src only). */
  readonly uri?: string;
  readonly suite: string;
  readonly components: readonly string[];
  readonly options: Options;
  readonly common: Common;
  /** A deb entry lading can use (supported scheme, dists/ suite). */
  readonly usable: boolean;
  readonly definedAt: string;
}

function expand(type: Entry['type'], uris: string[], suites: string[], components: string[], options: Options, definedAt: string, warnings: string[]): Entry[] {
  const common = interpret(options);
  const out: Entry[] = [];
  for (const rawUri of uris) {
    let url: URL | undefined;
    if (type === 'deb') url = parseUri(rawUri, definedAt);
    else {
      try {
        url = new URL(rawUri);
      } catch {
        // NOTE: lading never fetches deb-src entries; apt's own URI parser is more lenient than URL.
      }
    }
    let uri = url?.toString();
    if (uri !== undefined && !uri.endsWith('/')) uri += '/';
    const supported = url !== undefined && SCHEMES.has(url.protocol);
    if (type === 'deb' && !supported) warnings.push(`${definedAt}: skipping ${redactUrl(rawUri)}: only http, https and file URIs are supported`);
    for (const suite of suites) {
      const flat = suite.endsWith('/');
      if (flat) {
        // NOTE: flat repositories ("deb uri ./") have no dists/ tree; not needed for Debian images.
        if (type === 'deb' && supported) warnings.push(`${definedAt}: skipping flat repository ${redactUrl(uri!)} ${suite}: not supported`);
      } else if (components.length === 0) {
        throw new DebianError('SOURCES_INVALID', `${definedAt}: ${type === 'deb-src' ? 'deb-src ' : ''}${hideUserInfo(uri ?? rawUri)} ${suite}: no components`);
      }
      out.push({ type, uri, suite, components: [...components], options, common, usable: type === 'deb' && supported && !flat, definedAt });
    }
  }
  return out;
}

function refuseBom(text: string, what: string): void {
  if (text.startsWith(BOM)) throw new DebianError('SOURCES_INVALID', `${what}: starts with a UTF-8 byte order mark (apt refuses it); save the file without it`);
}

/** One option of a one-line entry: known to apt (kept), or ignored by apt (a warning saying why). */
function oneLineOption(options: Options, name: string, assign: string, value: string, at: string, warnings: string[]): void {
  const key = assign === '=' ? name : `${name}${assign[0]}`;
  if (ONE_LINE_OPTIONS.has(name) && (assign === '=' || MULTI_VALUE.has(name))) {
    options.set(key, { value, at, label: `option ${name}` });
    return;
  }
  const written = `${name}${assign}`;
  const lower = name.toLowerCase();
  let why: string;
  const field = DEB822_FIELDS[lower];
  if (assign !== '=' && !MULTI_VALUE.has(lower)) why = 'only arch, lang and target take += and -=';
  else if (ONE_LINE_OPTIONS.has(lower)) why = `apt's option names are case-sensitive (write ${lower}${assign})`;
  else if (field) why = `a deb822 field name, which apt does not read in the one-line format (write ${/[+-]$/.test(field) ? `${field}=` : `${field}${assign}`})`;
  else why = 'not an apt option';
  warnings.push(`${at}: ignoring option ${written}: ${why}; apt ignores it too`);
}

function parseListEntries(text: string, what: string, warnings: string[]): Entry[] {
  refuseBom(text, what);
  const entries: Entry[] = [];
  text.split('\n').forEach((rawLine, i) => {
    const definedAt = `${what}:${i + 1}`;
    const line = rawLine.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^(\S+)\s*(?:\[([^\]]*)\])?\s*(.*)$/.exec(line);
    const type = m?.[1];
    if (!m || !type) throw new DebianError('SOURCES_INVALID', `${definedAt}: cannot parse ${JSON.stringify(hideUserInfo(line))}`);
    if (type !== 'deb' && type !== 'deb-src') throw new DebianError('SOURCES_INVALID', `${definedAt}: unknown type ${JSON.stringify(type)} (want deb or deb-src)`);
    const options: Options = new Map();
    for (const opt of splitWords(m[2])) {
      const om = /^([^=\s]+?)([+-]?=)(.*)$/.exec(opt);
      if (!om) throw new DebianError('SOURCES_INVALID', `${definedAt}: malformed option ${JSON.stringify(hideUserInfo(opt))}`);
      const [, name, assign, value] = om as unknown as [string, string, string, string];
      oneLineOption(options, name, assign, value, definedAt, warnings);
    }
    const [uri, suite, ...components] = splitWords(m[3]);
    if (!uri || !suite) throw new DebianError('SOURCES_INVALID', `${definedAt}: want "${type} [options] uri suite component..."`);
    entries.push(...expand(type, [uri], [suite], components, options, definedAt, warnings));
  });
  return entries;
}

/**
 * apt reads a line of only spaces or tabs as a continuation line, so the stanzas on either side
 * of it merge (later fields win) where a reader would see two: refused rather than guessed.
 */
function refuseSpaceOnlySeparators(text: string, what: string): void {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const spaces = (l: string) => /^[ \t]+$/.test(l);
  let open = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) continue;
    if (line === '') open = false;
    else if (!spaces(line)) open = true;
    else if (open) {
      let j = i + 1;
      while (j < lines.length && (lines[j]!.startsWith('#') || spaces(lines[j]!))) j++;
      const next = lines[j];
      if (next !== undefined && next !== '' && !/^[ \t]/.test(next)) {
        throw new DebianError('SOURCES_INVALID', `${what}:${i + 1}: this line holds only spaces or tabs: apt does not take it as a stanza separator (it merges the stanzas around it); make it empty`);
      }
    }
  }
}

function parseDeb822Entries(text: string, what: string, warnings: string[]): Entry[] {
  refuseBom(text, what);
  refuseSpaceOnlySeparators(text, what);
  let paragraphs;
  try {
    paragraphs = parseDeb822(text, { what, comments: true, spaceLines: 'continuation' });
  } catch (err) {
    if (err instanceof DebianError && err.code === 'CONTROL_INVALID') throw new DebianError('SOURCES_INVALID', err.message, { cause: err });
    throw err;
  }
  const entries: Entry[] = [];
  for (const p of paragraphs) {
    const definedAt = `${what}:${p.line}`;
    const field = (name: string) => p.get(name);
    const enabled = p.field('Enabled');
    if (enabled && !parseBool(enabled.value, `${what}:${enabled.line}: Enabled`)) continue;
    const types = splitWords(field('Types'));
    if (types.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: missing Types`);
    for (const t of types) {
      if (t !== 'deb' && t !== 'deb-src') throw new DebianError('SOURCES_INVALID', `${definedAt}: unknown type ${JSON.stringify(t)}`);
    }
    const uris = splitWords(field('URIs'));
    const suites = splitWords(field('Suites'));
    if (uris.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: missing URIs`);
    if (suites.length === 0) throw new DebianError('SOURCES_INVALID', `${definedAt}: missing Suites`);
    const options: Options = new Map();
    for (const f of p.fields) {
      const key = DEB822_FIELDS[f.name.toLowerCase()];
      if (!key) continue;
      // Multi-value fields are space-separated in deb822; apt turns the spaces into commas.
      const value = key === 'signed-by' ? f.value : f.value.replace(/\s+/g, ' ').trim();
      options.set(key, { value, at: `${what}:${f.line}`, label: f.name });
    }
    for (const t of new Set(types) as Set<Entry['type']>) {
      entries.push(...expand(t, uris, suites, splitWords(field('Components')), options, definedAt, warnings));
    }
  }
  return entries;
}

function parseEntries(text: string, fileName: string, warnings: string[]): Entry[] {
  return fileName.endsWith('.sources') ? parseDeb822Entries(text, fileName, warnings) : parseListEntries(text, fileName, warnings);
}

/**
 * Options apt keeps once per URI + suite (its Release index), deb and deb-src alike: two entries
 * that set them differently make apt refuse the whole list ("Conflicting values set for option").
 * Each maps the written value to what apt compares, and to how a message shows it.
 */
const RELEASE_OPTIONS: ReadonlyArray<{ name: string; compare: (e: Entry) => string; show?: (e: Entry) => string }> = [
  { name: 'Trusted', compare: (e) => triState(e, 'trusted', e.common.trusted) },
  { name: 'Signed-By', compare: (e) => JSON.stringify(e.common.signedBy ?? null), show: (e) => describeSignedBy(e.common.signedBy) },
  { name: 'Check-Valid-Until', compare: (e) => triState(e, 'check-valid-until', e.common.checkValidUntil) },
  { name: 'Check-Date', compare: (e) => triState(e, 'check-date', e.common.checkDate) },
  ...['valid-until-min', 'valid-until-max', 'date-max-future'].map((key) => ({ name: optionName(key), compare: (e: Entry) => String(Number.parseInt(e.options.get(key)?.value ?? '0', 10) || 0) })),
  ...['allow-insecure', 'allow-weak', 'allow-downgrade-to-insecure'].map((key) => ({ name: optionName(key), compare: (e: Entry) => (isYes(e.options.get(key)?.value) ? 'yes' : 'no') })),
  { name: 'InRelease-Path', compare: (e) => e.options.get('inrelease-path')?.value ?? 'not set' },
];

function optionName(key: string): string {
  return key.replace(/(^|-)([a-z])/g, (_, sep: string, c: string) => `${sep}${c.toUpperCase()}`);
}

function isYes(value: string | undefined): boolean {
  return value !== undefined && ['yes', 'true', 'with', 'on', 'enable', '1'].includes(value.trim().toLowerCase());
}

function triState(e: Entry, key: string, value: boolean): string {
  return e.options.has(key) ? (value ? 'yes' : 'no') : 'not set';
}

function describeSignedBy(s: SignedBy | undefined): string {
  if (!s) return 'not set';
  return [...s.keyrings, ...s.fingerprints, ...(s.inline ? [`an inline key block (${s.inline.length} bytes)`] : [])].join(', ');
}

function refuseConflicts(entries: readonly Entry[]): void {
  const first = new Map<string, Entry>();
  for (const e of entries) {
    if (e.uri === undefined) continue;
    const id = `${e.uri} ${e.suite}`;
    const earlier = first.get(id);
    if (!earlier) {
      first.set(id, e);
      continue;
    }
    for (const o of RELEASE_OPTIONS) {
      if (o.compare(earlier) === o.compare(e)) continue;
      const show = o.show ?? o.compare;
      const [a, b] = [show(earlier), show(e)];
      throw new DebianError(
        'SOURCES_INVALID',
        `${e.definedAt}: ${sourceName({ uri: e.uri, suite: e.suite })}: ${o.name} is ${b} here but ${a} at ${earlier.definedAt}; apt refuses the whole sources list ("Conflicting values set for option ${o.name}")`,
        { hint: `apt keeps one ${o.name} per URI and suite: set the same value on every entry of ${sourceName({ uri: e.uri, suite: e.suite })}` },
      );
    }
  }
}

/** True when every architecture `b` serves, `a` serves too. */
function covers(a: AptSource, b: AptSource): boolean {
  const serves = (s: AptSource, arch: string) => (!s.architectures || s.architectures.includes(arch)) && !s.excludeArchitectures?.includes(arch);
  if (!a.architectures) return (a.excludeArchitectures ?? []).every((x) => !serves(b, x));
  if (!b.architectures) return false;
  return b.architectures.filter((x) => serves(b, x)).every((x) => serves(a, x));
}

/**
 * A component configured again for the same URI, suite and architectures (apt: "configured
 * multiple times") is used once, where it first appears; an entry left with nothing is dropped.
 */
function dropDuplicates(sources: readonly AptSource[], warnings: string[]): AptSource[] {
  const out: AptSource[] = [];
  for (const s of sources) {
    let components = [...s.components];
    for (const earlier of out) {
      if (earlier.uri !== s.uri || earlier.suite !== s.suite || !covers(earlier, s)) continue;
      const twice = components.filter((c) => earlier.components.includes(c));
      if (twice.length === 0) continue;
      warnings.push(`${s.definedAt}: ${sourceName(s)} ${twice.join(' ')} is configured multiple times (first at ${earlier.definedAt}); using it once`);
      components = components.filter((c) => !twice.includes(c));
    }
    if (components.length === s.components.length) out.push(s);
    else if (components.length) out.push({ ...s, components });
  }
  return out;
}

/** The list-wide checks (conflicting trust options, duplicates) and the sources lading uses. */
function finish(entries: readonly Entry[], warnings: string[]): ParsedSources {
  refuseConflicts(entries);
  const sources = entries
    .filter((e) => e.usable)
    .map((e): AptSource => ({ uri: e.uri!, suite: e.suite, components: [...e.components], ...e.common, definedAt: e.definedAt }));
  return { sources: dropDuplicates(sources, warnings), warnings };
}

/** Parses the one-line format: `deb [ opt=value ... ] uri suite component...` per line. */
export function parseSourcesList(text: string, what: string): ParsedSources {
  const warnings: string[] = [];
  return finish(parseListEntries(text, what, warnings), warnings);
}

/** Parses the deb822 format (`Types:`, `URIs:`, `Suites:`, `Components:`, options as fields). */
export function parseDeb822Sources(text: string, what: string): ParsedSources {
  const warnings: string[] = [];
  return finish(parseDeb822Entries(text, what, warnings), warnings);
}

/** Parses a sources file by name: `*.sources` is deb822, anything else the one-line format. */
export function parseSourcesText(text: string, fileName: string): ParsedSources {
  return parseSourceTexts([{ text, what: fileName }]);
}

/** One sources text of a list: its name (a file name, or where a config holds it) and format. */
export interface SourcesText {
  readonly text: string;
  /** Names it in messages; without `format`, a name ending in `.sources` means deb822. */
  readonly what: string;
  readonly format?: 'one-line' | 'deb822';
}

/**
 * Parses several sources texts as one list, as apt reads sources.list and its parts: entries of
 * one URI and suite in different texts must agree on their trust options, and a component
 * configured twice is used once (with a warning).
 */
export function parseSourceTexts(texts: readonly SourcesText[]): ParsedSources {
  const warnings: string[] = [];
  const entries = texts.flatMap((t) => {
    const deb822 = t.format ? t.format === 'deb822' : t.what.endsWith('.sources');
    return deb822 ? parseDeb822Entries(t.text, t.what, warnings) : parseListEntries(t.text, t.what, warnings);
  });
  return finish(entries, warnings);
}

/** Options of loadSources. */
export interface LoadSourcesOptions {
  /** Sources files to read instead of the machine's configuration. */
  files?: readonly string[];
  /** Root of the machine configuration (default "/"; tests point it at a fake tree). */
  root?: string;
  signal?: AbortSignal;
}

// apt's GetListOfFilesInDir for sources.list.d: letters, digits, "_", "-", ":" and "." (not first:
// hidden files are skipped), and a .list or .sources extension.
const PART_NAME = /^[A-Za-z0-9_:-][A-Za-z0-9_.:-]*\.(?:list|sources)$/;

async function sourceParts(dir: string, warnings: string[]): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => PART_NAME.test(n)).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const n of names) {
    const path = join(dir, n);
    // Like apt: symlinks are followed, directories skipped silently, anything else not a regular file skipped with a notice.
    let reason = 'not a regular file';
    const st = await stat(path).catch((err: unknown) => {
      reason = fsReason(err);
      return undefined;
    });
    if (st?.isFile()) out.push(path);
    else if (!st?.isDirectory()) warnings.push(`${path}: ignored: ${reason}`);
  }
  return out;
}

/**
 * Reads apt sources: the given files, or by default the machine's `/etc/apt/sources.list` and
 * `/etc/apt/sources.list.d/*.list|*.sources` in apt's order (sources.list first, then the parts
 * sorted by name; other names, hidden files and directories are ignored, as apt does).
 */
export async function loadSources(options: LoadSourcesOptions = {}): Promise<ParsedSources> {
  const files: string[] = [];
  const warnings: string[] = [];
  const given = Boolean(options.files?.length);
  if (given) files.push(...options.files!);
  else {
    const etc = join(options.root ?? '/', 'etc/apt');
    files.push(join(etc, 'sources.list'), ...(await sourceParts(join(etc, 'sources.list.d'), warnings)));
  }
  const entries: Entry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, { encoding: 'utf8', signal: options.signal });
    } catch (err) {
      // The machine's sources.list may legitimately be absent (Debian 12 containers use .sources only).
      if (errnoCode(err) === 'ENOENT' && !given) continue;
      throw new DebianError('SOURCES_INVALID', `reading apt sources ${file}: ${(err as Error).message}`, { cause: err });
    }
    entries.push(...parseEntries(text, file, warnings));
  }
  const parsed = finish(entries, warnings);
  if (parsed.sources.length === 0) {
    const why = warnings.length ? `; every entry was skipped: ${warnings.join('; ')}` : '';
    throw new DebianError('SOURCES_INVALID', `no apt sources (deb) in ${files.join(', ') || '/etc/apt'}${why}`, {
      hint: given
        ? 'a sources file needs at least one deb entry with an http, https or file URI and a suite under dists/ (not a flat "./" repository)'
        : 'configure apt sources on this machine (/etc/apt/sources.list, /etc/apt/sources.list.d/), or name them explicitly (--sources FILE; sources: in lading.yaml)',
    });
  }
  return parsed;
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
