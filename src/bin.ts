#!/usr/bin/env node
// Entry point: run the CLI; the only place that decides exit codes.
import './compile-cache.js'; // first: it must run before the other modules load
import { CommanderError } from 'commander';
import { buildProgram } from './cli.js';
import { ExternalError, exitCodeOf, ProfileError, UsageError } from './errors.js';

const io = { stdout: (s: string) => void process.stdout.write(s), stderr: (s: string) => void process.stderr.write(s) };
const program = buildProgram(io);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with code 0.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (isTyped(err)) {
    io.stderr(`soci-installer: ${err.message.split('\n').join('\nsoci-installer: ')}\n`);
    process.exitCode = exitCodeOf(err);
  } else {
    io.stderr(`soci-installer: internal error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}

function isTyped(err: unknown): err is Error {
  return err instanceof ProfileError || err instanceof UsageError || err instanceof ExternalError;
}
