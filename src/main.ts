// Runs the CLI; the only place that decides exit codes.
import { runCli } from './cli.js';
import { ExternalError, exitCodeOf, ProfileError, UsageError } from './errors.js';

export async function main(argv: string[]): Promise<number> {
  const io = { stdout: (s: string) => void process.stdout.write(s), stderr: (s: string) => void process.stderr.write(s) };
  try {
    await runCli(argv.slice(2), io);
    return 0;
  } catch (err) {
    if (isTyped(err)) {
      io.stderr(`soci-installer: ${err.message.split('\n').join('\nsoci-installer: ')}\n`);
      return exitCodeOf(err);
    } else {
      io.stderr(`soci-installer: internal error (please report it): ${err instanceof Error ? (await import('./error-stack.js')).unbundledStack(err.stack ?? err.message) : String(err)}\n`);
      return 1;
    }
  }
}

function isTyped(err: unknown): err is Error {
  return err instanceof ProfileError || err instanceof UsageError || err instanceof ExternalError;
}
