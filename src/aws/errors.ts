// AWS SDK errors -> one clear line each (an ExternalError, exit code 1), for every command that calls
// AWS (launch-template, ami, cluster.fromEks, check-image's ECR tokens). Nothing here imports the SDK:
// errors are recognised by their name and metadata.
import { ExternalError } from '../errors.js';

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled', 'RequestThrottledException']);
const DENIED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'UnauthorizedException']);
const BAD_CREDENTIALS = new Set(['AuthFailure', 'InvalidClientTokenId', 'UnrecognizedClientException', 'SignatureDoesNotMatch', 'InvalidSignatureException', 'ExpiredToken', 'ExpiredTokenException', 'RequestExpired']);

/**
 * `action` names the IAM action of the call, e.g. "ec2:CreateLaunchTemplate"; `subject` what it was
 * about, e.g. 'launch template "nodes"'; `regionFrom` where the command takes a region from.
 */
export function awsError(err: unknown, action: string, subject: string, regionFrom = 'pass --region or set AWS_REGION'): ExternalError {
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? '';
  const message = (e.message ?? String(err)).split('\n')[0]!;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return new ExternalError(
      `${action}: no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run aws sso login, or run where an instance or pod role is available)`,
    );
  }
  if (/Region is missing/i.test(message)) return new ExternalError(`${action}: no AWS region: ${regionFrom}`);
  if (BAD_CREDENTIALS.has(name)) return new ExternalError(`${action}: AWS refused the credentials (${name}): ${message}`);
  if (DENIED.has(name)) {
    return new ExternalError(`${action}: access denied for ${subject}: the caller needs ${action} (see "IAM policies" in the README)`);
  }
  if (name === 'InvalidUserData.Malformed') {
    return new ExternalError(`${action}: EC2 refused the user data of ${subject} as malformed (InvalidUserData.Malformed): ${message}`);
  }
  if (name === 'InvalidLaunchTemplateName.AlreadyExistsException') {
    return new ExternalError(`${action}: ${subject} already exists (created by someone else meanwhile?); run the command again to add a version`);
  }
  if (name === 'InvalidLaunchTemplateName.MalformedException') {
    return new ExternalError(`${action}: ${subject}: EC2 refused the name (3-128 letters, digits and ( ) . / _ -): ${message}`);
  }
  if (THROTTLING.has(name)) {
    const attempts = e.$metadata?.attempts;
    return new ExternalError(`${action}: AWS is throttling requests (${name})${attempts ? ` and ${attempts} attempts failed` : ''}; try again in a minute`);
  }
  if (name === 'ResourceNotFoundException') return new ExternalError(`${action}: ${subject} not found: ${message}`);
  const code = name && name !== 'Error' ? `${name}: ` : '';
  return new ExternalError(`${action}: ${subject}: ${code}${message}`);
}

/** Calls `fn`, turning any AWS error into one clear line. */
export async function call<T>(action: string, subject: string, fn: () => Promise<T>, regionFrom?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw awsError(err, action, subject, regionFrom);
  }
}
