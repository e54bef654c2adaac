/** The start every bench command shares: parse the flags, or print the usage and say how to exit. */
export function parseFlags<T extends { help: boolean }>(argv: string[], parse: (argv: string[]) => T, usage: string, log: (msg: string) => void): T | number {
  let opts: T;
  try {
    opts = parse(argv);
  } catch (err) {
    log(`${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return opts;
}

/** An integer flag 1..max, or the fallback when absent; a bad value throws naming the flag. */
export function intFlag(v: string | undefined, fallback: number, max: number, flag: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag}: expected an integer 1-${max}, got "${v}"`);
  return n;
}

/** Run a bench's main: its result is the exit code; a throw is logged and exits 1. */
export function runMain(main: (argv: string[]) => Promise<number>, log: (msg: string) => void): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
