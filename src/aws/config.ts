// What every AWS SDK client is made with: a region checked against the one region pattern (the
// schema's eksctl.region and ami.region use it too), and our retries.
import { UsageError } from '../errors.js';
import { REGION, REGION_HINT } from './names.js';

/** Attempts per call (the SDK's standard retry: throttling and 5xx are retried with backoff). */
export const MAX_ATTEMPTS = 5;

/**
 * The options of an SDK client. `region` comes from --region or the schema-checked profile; absent,
 * the SDK finds it (AWS_REGION, the AWS config file).
 */
export function clientConfig(region: string | undefined): { region?: string; maxAttempts: number } {
  if (region !== undefined && !new RegExp(REGION).test(region)) {
    throw new UsageError(`--region: ${JSON.stringify(region)} is not ${REGION_HINT}`);
  }
  return { ...(region !== undefined ? { region } : {}), maxAttempts: MAX_ATTEMPTS };
}
