// The narrow EC2 interface: only the calls soci-installer makes. Tests use aws-sdk-client-mock or a
// stand-in endpoint; the SDK itself is imported only when a command that calls EC2 runs.
import type {
  CreateLaunchTemplateCommandInput,
  CreateLaunchTemplateCommandOutput,
  CreateLaunchTemplateVersionCommandInput,
  CreateLaunchTemplateVersionCommandOutput,
  DescribeImagesCommandInput,
  DescribeImagesCommandOutput,
  DescribeLaunchTemplatesCommandInput,
  DescribeLaunchTemplatesCommandOutput,
  DescribeLaunchTemplateVersionsCommandInput,
  DescribeLaunchTemplateVersionsCommandOutput,
  EC2Client,
  ModifyLaunchTemplateCommandInput,
  ModifyLaunchTemplateCommandOutput,
} from '@aws-sdk/client-ec2';
import { clientConfig } from './config.js';

export interface Ec2Api {
  /** Only to find a baked AMI by its tags (ami.tags). */
  describeImages(input: DescribeImagesCommandInput): Promise<DescribeImagesCommandOutput>;
  describeLaunchTemplates(input: DescribeLaunchTemplatesCommandInput): Promise<DescribeLaunchTemplatesCommandOutput>;
  describeLaunchTemplateVersions(input: DescribeLaunchTemplateVersionsCommandInput): Promise<DescribeLaunchTemplateVersionsCommandOutput>;
  createLaunchTemplate(input: CreateLaunchTemplateCommandInput): Promise<CreateLaunchTemplateCommandOutput>;
  createLaunchTemplateVersion(input: CreateLaunchTemplateVersionCommandInput): Promise<CreateLaunchTemplateVersionCommandOutput>;
  modifyLaunchTemplate(input: ModifyLaunchTemplateCommandInput): Promise<ModifyLaunchTemplateCommandOutput>;
}

export async function ec2Api(opts: { region?: string; client?: EC2Client } = {}): Promise<Ec2Api> {
  const sdk = await import('@aws-sdk/client-ec2');
  const client = opts.client ?? new sdk.EC2Client(clientConfig(opts.region));
  return {
    describeImages: (input) => client.send(new sdk.DescribeImagesCommand(input)),
    describeLaunchTemplates: (input) => client.send(new sdk.DescribeLaunchTemplatesCommand(input)),
    describeLaunchTemplateVersions: (input) => client.send(new sdk.DescribeLaunchTemplateVersionsCommand(input)),
    createLaunchTemplate: (input) => client.send(new sdk.CreateLaunchTemplateCommand(input)),
    createLaunchTemplateVersion: (input) => client.send(new sdk.CreateLaunchTemplateVersionCommand(input)),
    modifyLaunchTemplate: (input) => client.send(new sdk.ModifyLaunchTemplateCommand(input)),
  };
}
