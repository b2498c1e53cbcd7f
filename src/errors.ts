// Typed errors: commands throw these, and only main.ts turns them into exit codes.

/** What every error of ours has: the exit code main.ts gives it, and its class's name as its name. */
abstract class SociInstallerError extends Error {
  abstract readonly exitCode: number;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The profile (or a flag standing in for it) is wrong. Carries every problem found, one per line. */
export class ProfileError extends SociInstallerError {
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** The command line is wrong (unknown flag, bad combination). */
export class UsageError extends SociInstallerError {
  readonly exitCode = 2;
}

/** Something outside us failed (network, AWS, file system). */
export class ExternalError extends SociInstallerError {
  readonly exitCode = 1;
}

/** check-image: some images are not ready (exit 1, as any failure outside us), the report already printed. */
export class NotReadyError extends ExternalError {}

/** A bug in soci-installer itself: the message asks for a report. */
export class InternalError extends SociInstallerError {
  readonly exitCode = 1;
  constructor(message: string) {
    super(`internal error (please report it): ${message}`);
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof SociInstallerError ? err.exitCode : 1;
}
