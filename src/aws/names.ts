// AWS names, one pattern each: the profile's schema, the loader (which runs the schema) and the flags
// of the commands (--region, --cluster, --ami) all use these. No imports: the schema reads them at start-up.

/** Region names: us-west-2, ap-southeast-1, us-gov-west-1, cn-north-1. */
export const REGION = '^[a-z]{2}(?:-[a-z]+)+-[0-9]+$';
export const REGION_HINT = 'an AWS region such as us-west-2';

/** EKS cluster names [EKS CreateCluster API]: 1 to 100 of letters, digits, - and _, starting with a letter or digit. */
export const CLUSTER_NAME = '^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$';
export const CLUSTER_NAME_HINT = 'an EKS cluster name: letters, digits, - and _, at most 100';

/** AMI ids: ami- and 8 (older) or 17 hex digits. */
export const AMI_ID = '^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$';
export const AMI_ID_HINT = 'an AMI id such as ami-0123456789abcdef0';
