// Typed errors: commands throw these, and only bin.ts turns them into exit codes.

/** The profile (or a flag standing in for it) is wrong. Carries every problem found, one per line. */
export class ProfileError extends Error {
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ProfileError';
  }
}

/** The command line is wrong (unknown flag, bad combination). */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Something outside us failed (network, AWS, file system). */
export class ExternalError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'ExternalError';
  }
}

/** check-image: some images are not ready (exit 1, as any failure outside us), the report already printed. */
export class NotReadyError extends ExternalError {
  constructor(message: string) {
    super(message);
    this.name = 'NotReadyError';
  }
}

/** A bug in soci-installer itself: the message asks for a report. */
export class InternalError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(`internal error (please report it): ${message}`);
    this.name = 'InternalError';
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof ProfileError || err instanceof UsageError || err instanceof ExternalError || err instanceof InternalError) {
    return err.exitCode;
  }
  return 1;
}
