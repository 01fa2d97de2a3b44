// deb822 control syntax (dpkg man/deb822.pod; spec debian.md §3.1): paragraphs separated by
// blank lines, `Field: value`, continuation lines starting with a space or tab.
import { DebianError } from './errors.js';

/** One field of a paragraph, with the 1-based line it starts on. */
export interface Deb822Field {
  /** The name as written (field names compare case-insensitively). */
  readonly name: string;
  /**
   * The value: the first line trimmed, then one `\n` + line per continuation line with its single
   * leading space or tab removed and trailing whitespace trimmed (a Description's ` .` stays `.`).
   */
  readonly value: string;
  readonly line: number;
}

/** A deb822 paragraph: fields in file order, looked up case-insensitively. */
export class Deb822Paragraph {
  readonly fields: readonly Deb822Field[];
  /** 1-based line of the paragraph's first field. */
  readonly line: number;
  private readonly byName: Map<string, Deb822Field>;

  constructor(fields: readonly Deb822Field[], line: number) {
    this.fields = fields;
    this.line = line;
    this.byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
  }

  /** The value of a field, or undefined. */
  get(name: string): string | undefined {
    return this.byName.get(name.toLowerCase())?.value;
  }

  /** The field itself (name as written, line). */
  field(name: string): Deb822Field | undefined {
    return this.byName.get(name.toLowerCase());
  }

  /** True when the paragraph has the field. */
  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }
}

/** Options of parseDeb822. */
export interface ParseDeb822Options {
  /** Names the input in errors (a file name). */
  what: string;
  /** Allow `#` comment lines (sources files and debian/control do; Packages and Release do not). */
  comments?: boolean;
  /**
   * A line of only spaces and tabs: a paragraph separator ('separator', the default, as dpkg reads
   * it), or apt's reading of sources files ('continuation'): inside a paragraph an empty
   * continuation line of the last field, outside one nothing.
   */
  spaceLines?: 'separator' | 'continuation';
}

/**
 * Parses deb822 text into paragraphs. Malformed lines, continuation lines without a field and
 * duplicate fields fail with DebianError('CONTROL_INVALID') naming `what:line`.
 */
export function parseDeb822(text: string, options: ParseDeb822Options): Deb822Paragraph[] {
  const out: Deb822Paragraph[] = [];
  let fields: Array<{ name: string; parts: string[]; line: number }> = [];
  let seen = new Set<string>();
  let startLine = 0;
  const flush = () => {
    if (fields.length) out.push(new Deb822Paragraph(fields.map((f) => ({ name: f.name, value: f.parts.join('\n'), line: f.line })), startLine));
    fields = [];
    seen = new Set();
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const lineNo = i + 1;
    if (options.comments && line.startsWith('#')) continue;
    if (options.spaceLines === 'continuation' && /^[ \t]+$/.test(line)) {
      fields[fields.length - 1]?.parts.push('');
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      const cur = fields[fields.length - 1];
      if (!cur) throw new DebianError('CONTROL_INVALID', `${options.what}:${lineNo}: continuation line without a field`);
      cur.parts.push(line.slice(1).trimEnd());
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new DebianError('CONTROL_INVALID', `${options.what}:${lineNo}: expected "Field: value", got ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon);
    if (/\s/.test(name)) throw new DebianError('CONTROL_INVALID', `${options.what}:${lineNo}: invalid field name ${JSON.stringify(name)}`);
    const key = name.toLowerCase();
    if (seen.has(key)) throw new DebianError('CONTROL_INVALID', `${options.what}:${lineNo}: duplicate field ${name}`);
    seen.add(key);
    if (fields.length === 0) startLine = lineNo;
    fields.push({ name, parts: [line.slice(colon + 1).trim()], line: lineNo });
  }
  flush();
  return out;
}

/** Splits a whitespace-separated field value (Architectures, Components, Suites). */
export function splitWords(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(/\s+/).filter((w) => w !== '');
}
