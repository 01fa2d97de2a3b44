// The control member of a .deb: the `control` stanza and the other control files (debian.md
// §7.2, §8.2; dpkg man/deb-control.pod, deb-conffiles.pod, deb-triggers.pod).

/** A file of the control member (`control`, `md5sums`, `postinst`, ...). */
export interface ControlFile {
  /** Bare name without `./`. */
  name: string;
  /** Permission bits from the tar header (scripts are 0755). */
  mode: number;
  mtime: number;
  data: Buffer;
}

/** A conffile entry (`conffiles`): path plus the `remove-on-upgrade` flag (dpkg >= 1.20.1). */
export interface Conffile {
  path: string;
  removeOnUpgrade: boolean;
}

/** A trigger directive of the `triggers` control file. */
export interface TriggerDirective {
  directive: 'interest' | 'interest-await' | 'interest-noawait' | 'activate' | 'activate-await' | 'activate-noawait';
  name: string;
}

/** Parses the `conffiles` control file; returns a string describing the first error. */
export function parseConffiles(text: string): Conffile[] | string {
  const out: Conffile[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '') continue;
    if (line.startsWith('/')) {
      out.push({ path: line, removeOnUpgrade: false });
      continue;
    }
    const m = /^(\S+) (\/.*)$/.exec(line);
    if (!m) return `conffile name ${JSON.stringify(line)} is not an absolute pathname`;
    if (m[1] !== 'remove-on-upgrade') return `unknown flag ${JSON.stringify(m[1])} for conffile ${m[2] ?? ''}`;
    out.push({ path: m[2] ?? '', removeOnUpgrade: true });
  }
  return out;
}

const DIRECTIVES = new Set<TriggerDirective['directive']>(['interest', 'interest-await', 'interest-noawait', 'activate', 'activate-await', 'activate-noawait']);

/** Parses the `triggers` control file (deb-triggers.pod): `directive name` lines, `#` comments. */
export function parseTriggers(text: string): TriggerDirective[] | string {
  const out: TriggerDirective[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^(\S+)\s+(\S+)$/.exec(line);
    if (!m || !DIRECTIVES.has(m[1] as TriggerDirective['directive'])) return `unknown trigger directive ${JSON.stringify(line)}`;
    out.push({ directive: m[1] as TriggerDirective['directive'], name: m[2] ?? '' });
  }
  return out;
}
