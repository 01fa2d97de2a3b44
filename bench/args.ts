// Command-line options of the benchmarks.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** parseArgs for a benchmark: an unknown or malformed option is a usage error (exit 2), not a stack trace. */
export function benchArgs<T extends ParseArgsConfig>(bench: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw err;
    process.stderr.write(`${bench}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
