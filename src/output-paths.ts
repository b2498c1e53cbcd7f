// Paths of the outputs for other tools in the output directory (render writes them when the
// profile allows them). A module of its own so the CLI can name them in --help without loading
// the artifacts.
export const OUTPUT_PATHS = {
  karpenter: 'karpenter/ec2nodeclass.yaml',
  eksctl: 'eksctl/nodegroup.yaml',
  bottlerocket: 'bottlerocket/settings.toml',
} as const;
