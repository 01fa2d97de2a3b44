import { InvalidArgumentError } from 'commander';
import type { Writable } from 'node:stream';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createStreamLogger, Redactor, type Logger } from '../core/index.js';

/** What every command gets: resolved global options, output streams and a cancel signal. */
export interface CliContext {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** `--json`: one JSON document on stdout, nothing else there. */
  readonly json: boolean;
  /** `--store DIR` / LADING_STORE / ./.lading/store, absolute. */
  readonly storePath: string;
  /** `--cache DIR` / LADING_CACHE / $XDG_CACHE_HOME/lading / ~/.cache/lading, absolute (apt indexes, .debs). */
  readonly cachePath: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly redactor: Redactor;
  /** True when stderr is a terminal (progress bars). */
  readonly interactive: boolean;
  /** Set by a command that finished but failed (verify found problems, a build failed). */
  exitCode: number;
  /** Set once the command's JSON document is on stdout (an error then adds no second one). */
  jsonPrinted: boolean;
}

export interface GlobalOptions {
  store?: string;
  cache?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal;
}

export function createContext(io: CliIo, opts: GlobalOptions): CliContext {
  const redactor = new Redactor();
  const storePath = resolve(io.cwd, opts.store ?? io.env.LADING_STORE ?? '.lading/store');
  const cachePath = resolve(
    io.cwd,
    opts.cache ?? io.env.LADING_CACHE ?? join(io.env.XDG_CACHE_HOME || join(io.env.HOME || homedir(), '.cache'), 'lading'),
  );
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    json: opts.json === true,
    storePath,
    cachePath,
    cwd: io.cwd,
    env: io.env,
    signal: io.signal,
    redactor,
    logger: createStreamLogger({ stream: io.stderr, level: opts.verbose ? 'debug' : opts.quiet ? 'warn' : 'info', redactor }),
    interactive: io.stderr.isTTY === true && !io.env.CI,
    exitCode: 0,
    jsonPrinted: false,
  };
}

/** Writes `value` as the command's JSON result, or `text()` for people. */
export function output(ctx: CliContext, value: unknown, text: () => string): void {
  if (ctx.json) {
    ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    ctx.jsonPrinted = true;
  } else {
    const t = text();
    if (t) ctx.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
  }
}

/** Formats rows as aligned columns. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** An integer flag value of at least `min`, else a usage error naming the flag. */
export function integerFlag(value: string, flag: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`${flag}: want an integer >= ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Collects repeated options (`--env A=1 --env B=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
