// The command line: commander declares commands and flags and calls the library. No logic here
// beyond reading files and printing; errors are thrown, and bin.ts turns them into exit codes.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { UsageError } from './errors.js';
import { defaultProfileText, loadProfile, plan, render } from './index.js';
import { bakedUserDataMime } from './artifacts/user-data.js';
import { writeArtifacts } from './synth.js';
import { PROFILE_SCHEMA } from './profile/schema.js';
import { GENERATOR_VERSION } from './version.js';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

function readProfile(file: string | undefined): { text?: string; origin?: string } {
  if (!file) return {};
  try {
    return { text: readFileSync(file, 'utf8'), origin: file };
  } catch (err) {
    throw new UsageError(`-c ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function renderFrom(file: string | undefined, io: Io) {
  const { text, origin } = readProfile(file);
  const result = render(text, origin);
  for (const w of result.warnings) io.stderr(`warning: ${w}\n`);
  return result;
}

export function buildProgram(io: Io): Command {
  const program = new Command('soci-installer')
    .description('Put the SOCI snapshotter on Amazon EKS nodes: user data, node files, and the rest, from one profile.')
    .version(GENERATOR_VERSION)
    .exitOverride()
    .enablePositionalOptions() // so `checksums --version V` is the subcommand's flag
    .showHelpAfterError()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .addHelpText(
      'after',
      `
Examples:
  soci-installer init -o soci.yaml          write an annotated profile to start from
  soci-installer render -c soci.yaml -o out every file, into ./out
  soci-installer user-data --base64         user data for a launch template (default profile)
  soci-installer ami -c soci.yaml           the EKS AMI the Packer build (out/packer) starts from
  soci-installer user-data -c soci.yaml --baked --base64   user data for nodes of the baked AMI
  soci-installer checksums --version 0.15.0 --write soci.yaml`,
    );
  const profileOption = () => new Option('-c, --config <file>', 'profile (YAML); default: the embedded default profile');

  program
    .command('init')
    .description('write an annotated profile to start from')
    .option('-o, --output <file>', 'where to write it', 'soci.yaml')
    .option('--force', 'overwrite an existing file')
    .action((opts: { output: string; force?: boolean }) => {
      if (existsSync(opts.output) && !opts.force) throw new UsageError(`${opts.output} exists; use --force to overwrite it`);
      const tmp = `${opts.output}.tmp-${process.pid}`;
      writeFileSync(tmp, defaultProfileText());
      renameSync(tmp, opts.output);
      io.stdout(`wrote ${opts.output}\n`);
    });

  program
    .command('render')
    .description('write user-data.mime, nodeconfig.yaml, install.sh, rootfs/ (every file the node receives) and packer/ (the AMI bake)')
    .addOption(profileOption())
    .option('-o, --output <dir>', 'output directory (replaced as a whole)', 'out')
    .addHelpText('after', '\nExample:\n  soci-installer render -c soci.yaml -o out && cat out/install.sh')
    .action((opts: { config?: string; output: string }) => {
      const { artifacts } = renderFrom(opts.config, io);
      writeArtifacts(opts.output, artifacts);
      io.stdout(`wrote ${artifacts.length} files to ${opts.output}/\n`);
    });

  program
    .command('user-data')
    .description('print the MIME multipart user data')
    .addOption(profileOption())
    .option('--base64', 'base64 on one line, as launch templates take it')
    .option('--baked', 'for nodes of the AMI baked with packer/: only the cluster block (as ami.baked: true)')
    .addHelpText('after', '\nExample:\n  soci-installer user-data -c soci.yaml --base64 > user-data.b64')
    .action((opts: { config?: string; base64?: boolean; baked?: boolean }) => {
      const result = renderFrom(opts.config, io);
      if (opts.baked && !result.plan.ami) throw new UsageError('--baked: soci.mode "fast-image-pull" installs nothing, so no AMI is baked; drop --baked');
      const mime = opts.baked ? bakedUserDataMime(result.plan) : result.artifacts.find((a) => a.path === 'user-data.mime')!.content;
      io.stdout(opts.base64 ? `${Buffer.from(mime).toString('base64')}\n` : mime);
    });

  program
    .command('daemonset')
    .description('print the DaemonSet manifest that installs soci on nodes that already run (kubectl apply -f)')
    .addOption(profileOption())
    .option('--uninstall', 'the manifest that puts every node back as it was')
    .addHelpText('after', '\nExample:\n  soci-installer daemonset -c soci.yaml | kubectl apply -f -\n  kubectl -n soci-installer rollout status ds/soci-installer')
    .action((opts: { config?: string; uninstall?: boolean }) => {
      const name = opts.uninstall ? 'daemonset-uninstall.yaml' : 'daemonset.yaml';
      const found = renderFrom(opts.config, io).artifacts.find((a) => a.path === name);
      if (!found) throw new UsageError('soci.mode fast-image-pull installs nothing: nodeadm applies its gate at boot, so there is nothing for a DaemonSet to do');
      io.stdout(found.content);
    });

  program
    .command('checksums')
    .description("fetch a soci release's published sha256 sums (needs the internet or a mirror)")
    .requiredOption('--version <version>', 'soci-snapshotter release, e.g. 0.15.0')
    .option('--base-url <url>', 'release mirror (as soci.releaseBaseUrl)')
    .addOption(new Option('--arch <arch...>', 'architectures').choices(['amd64', 'arm64']))
    .option('--write <profile>', 'write soci.version and soci.sha256 into this profile (comments kept)')
    .addHelpText('after', '\nExample:\n  soci-installer checksums --version 0.15.0 --write soci.yaml')
    .action(async (opts: { version: string; baseUrl?: string; arch?: ('amd64' | 'arm64')[]; write?: string }) => {
      const { fetchChecksums, writeChecksums } = await import('./checksums.js');
      const sums = await fetchChecksums({ version: opts.version, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}), ...(opts.arch ? { arches: opts.arch } : {}) });
      if (opts.write) {
        writeChecksums(opts.write, opts.version, sums);
        io.stdout(`pinned soci ${opts.version} (${Object.keys(sums).join(', ')}) in ${opts.write}\n`);
      } else {
        io.stdout(`soci:\n  version: ${opts.version}\n  sha256:\n${Object.entries(sums).map(([a, s]) => `    ${a}: ${s}\n`).join('')}`);
      }
    });

  program
    .command('ami')
    .description('print the EKS AL2023 AMI the Packer build starts from, per architecture (needs AWS credentials)')
    .addOption(profileOption())
    .option('--region <region>', 'AWS region (default: ami.region, then AWS_REGION)')
    .option('--ssm', "read EKS's recommended image_id SSM parameter instead of the newest image by name (what packer/ uses)")
    .option('--json', 'JSON for scripts')
    .addHelpText('after', '\nPermissions: ec2:DescribeImages, ssm:GetParameter (on arn:aws:ssm:*::parameter/aws/service/eks/*).\nExample:\n  soci-installer ami -c soci.yaml --region us-west-2 --json')
    .action(async (opts: { config?: string; region?: string; ssm?: boolean; json?: boolean }) => {
      const { text, origin } = readProfile(opts.config);
      const p = plan(loadProfile(text ?? defaultProfileText(), origin ?? (text === undefined ? 'default profile' : 'profile')));
      if (opts.region !== undefined && !/^[a-z]{2}(?:-[a-z]+)+-[0-9]+$/.test(opts.region)) {
        throw new UsageError(`--region: ${JSON.stringify(opts.region)} is not an AWS region such as us-west-2`);
      }
      // Loaded here only: no other command pulls in the AWS SDK.
      const { formatAmiResult, resolveSourceAmis } = await import('./aws/ami.js');
      const result = await resolveSourceAmis(p, { ...(opts.region ? { region: opts.region } : {}), via: opts.ssm ? 'ssm' : 'ec2' });
      io.stdout(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatAmiResult(result));
    });

  program
    .command('schema')
    .description('print the JSON Schema of the profile (for editors)')
    .action(() => io.stdout(`${JSON.stringify(PROFILE_SCHEMA, null, 2)}\n`));

  return program;
}
