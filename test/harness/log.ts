// The harness reports its own steps and timings on stderr, so slow steps show in CI logs.
export function log(msg: string): void {
  process.stderr.write(`[harness] ${msg}\n`);
}

export function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(2)}s`;
}
