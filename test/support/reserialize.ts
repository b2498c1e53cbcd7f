/**
 * What the tools between our files and the node do to our user data: they parse our MIME parts and
 * write new MIME around them. Stand-ins (these tools cannot run here); each copies the behaviour of the
 * upstream files named below, read at the revisions given (never their code).
 *
 * API:
 *   goMultipartRead(text): { contentType: string; content: string }[]
 *       the parts as Go's net/mail + mime/multipart read them: Content-Type header value (first one),
 *       raw body bytes; no base64 decoding (Go decodes only quoted-printable, which we never send).
 *   karpenterSerialize(entries): string   mime.go's Archive.Serialize, base64-decoded
 *   karpenterUserData(userData, karpenterNodeConfig = KARPENTER_NODECONFIG): string
 *       aws/karpenter-provider-aws at 1d927085 (2026-08-21):
 *       pkg/providers/amifamily/bootstrap/nodeadm.go (Nodeadm.Script, parseUserData) and
 *       pkg/providers/amifamily/bootstrap/mime/mime.go (NewArchive, Serialize): MIME userData is read
 *       part by part, Karpenter's NodeConfig is appended, and every part is written back with ONLY its
 *       Content-Type header, boundary "//", CRs removed. Returns what the instance receives (Karpenter
 *       base64-encodes it for EC2; EC2 hands the decoded bytes to cloud-init and nodeadm).
 *   eksManagedNodeGroupUserData(userData, eksNodeConfig = EKS_NODECONFIG): string
 *       EKS managed node groups append their NodeConfig to the launch template's MIME. EKS is closed
 *       source; how it re-serializes is unknown, so this assumes the worst seen in the open: Karpenter's
 *       rule above (each part keeps its Content-Type only), with its boundary.
 *   eksctlUserData(nodeGroup: { preBootstrapCommands?, overrideBootstrapCommand?, ami? }): string
 *       eksctl-io/eksctl at 99984adb (2026-08-21): pkg/nodebootstrap/al2023.go (AL2023.UserData: each
 *       command becomes "#!/bin/bash\n" + command; with a custom `ami` eksctl writes a minimal NodeConfig
 *       with the cluster block first (createMinimalNodeConfig, here EKSCTL_MINIMAL_NODECONFIG), on the
 *       EKS AMI none; overrideBootstrapCommand is re-marshalled, here kept as text) and
 *       pkg/nodebootstrap/managed_al2.go (createMimeMessage: Go's multipart writer with CRLF, and the
 *       shell parts' Content-Type given as two values, so two header lines). On the EKS AMI, EKS then
 *       appends its NodeConfig (eksManagedNodeGroupUserData).
 *   KARPENTER_NODECONFIG, EKS_NODECONFIG: string   the NodeConfigs they append (shape of nodeadm.go's
 *       getNodeConfigYAML: sigs.k8s.io/yaml output, keys sorted)
 * test/outputs.test.ts checks the Karpenter part against Karpenter's own test data (test/fixtures/karpenter/).
 */

export interface GoPart {
  contentType: string;
  content: string;
}

export const KARPENTER_NODECONFIG = `# Karpenter Generated NodeConfig
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
metadata: {}
spec:
  cluster:
    apiServerEndpoint: https://ABCD1234.gr7.us-west-2.eks.amazonaws.com
    certificateAuthority: Q0E=
    cidr: 10.100.0.0/16
    name: demo
  containerd: {}
  instance:
    localStorage: {}
    network: {}
  kubelet:
    config:
      maxPods: 29
      registerWithTaints: []
    flags:
    - --node-labels=karpenter.sh/capacity-type=on-demand,karpenter.sh/nodepool=default
`;

export const EKS_NODECONFIG = `apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    apiServerEndpoint: https://ABCD1234.gr7.us-west-2.eks.amazonaws.com
    certificateAuthority: Q0E=
    cidr: 10.100.0.0/16
    name: demo
  kubelet:
    config:
      maxPods: 29
      clusterDNS:
      - 10.100.0.10
    flags:
    - --node-labels=eks.amazonaws.com/nodegroup-image=ami-0123456789abcdef0,eks.amazonaws.com/capacityType=ON_DEMAND,eks.amazonaws.com/nodegroup=soci
`;

/** Header block -> canonical key -> values (net/textproto.ReadMIMEHeader: continuation lines folded). */
function readHeaders(block: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of block.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim().toLowerCase();
    out.set(key, [...(out.get(key) ?? []), line.slice(i + 1).trim()]);
  }
  return out;
}

export function goMultipartRead(text: string): GoPart[] {
  const src = text.replace(/\r\n/g, '\n'); // Go's reader accepts LF line ends as well as CRLF
  const headerEnd = src.indexOf('\n\n');
  if (headerEnd < 0) throw new Error('net/mail: no blank line after the headers');
  const ct = readHeaders(src.slice(0, headerEnd)).get('content-type')?.[0] ?? '';
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
  if (!/^multipart\//i.test(ct) || !m) throw new Error('archive is not in multipart format');
  const dash = `--${m[1] ?? m[2]}`;
  // A delimiter line: "--boundary" then only white space, or "--boundary--" (the close); Go's
  // matchAfterPrefix accepts nothing else, so "--boundaryX" stays part of a body.
  const delimiter = (l: string) => (l.startsWith(dash) && /^[ \t]*$/.test(l.slice(dash.length)) ? 'next' : l.startsWith(`${dash}--`) ? 'close' : undefined);
  const lines = src.slice(headerEnd + 2).split('\n');
  const parts: GoPart[] = [];
  let i = lines.findIndex((l) => delimiter(l) !== undefined);
  if (i < 0 || delimiter(lines[i]!) === 'close') return parts;
  for (;;) {
    let j = i + 1;
    while (j < lines.length && delimiter(lines[j]!) === undefined) j++;
    if (j >= lines.length) throw new Error('multipart: NextPart: EOF (no closing boundary)');
    const chunk = lines.slice(i + 1, j).join('\n'); // the LF before a delimiter belongs to the delimiter
    const end = chunk.indexOf('\n\n');
    const headers = readHeaders(end < 0 ? chunk : chunk.slice(0, end));
    const encoding = headers.get('content-transfer-encoding')?.[0]?.toLowerCase();
    if (encoding === 'quoted-printable') throw new Error('quoted-printable: Go decodes it; not modelled (we never send it)');
    parts.push({ contentType: headers.get('content-type')?.[0] ?? '', content: end < 0 ? '' : chunk.slice(end + 2) });
    if (delimiter(lines[j]!) === 'close') return parts;
    i = j;
  }
}

/** Go's mime/multipart Writer with CreatePart per entry and Close; `nl` is its CRLF or, CRs removed, LF. */
function goMultipartWrite(entries: { headers: [string, string][]; content: string }[], boundary: string, nl: string): string {
  let out = '';
  entries.forEach((e, n) => {
    out += `${n ? nl : ''}--${boundary}${nl}`;
    for (const [k, v] of e.headers) out += `${k}: ${v}${nl}`;
    out += nl + e.content;
  });
  return `${out}${nl}--${boundary}--${nl}`;
}

/** mime.go Archive.Serialize, base64-decoded: boundary "//", only Content-Type per part, CRs removed. */
export function karpenterSerialize(entries: GoPart[]): string {
  const head = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n';
  return head + goMultipartWrite(entries.map((e) => ({ headers: [['Content-Type', e.contentType]], content: e.content })), '//', '\n');
}

export function karpenterUserData(userData: string, karpenterNodeConfig = KARPENTER_NODECONFIG): string {
  const trimmed = userData.trim();
  if (!trimmed.startsWith('MIME-Version:') && !trimmed.startsWith('Content-Type:')) {
    throw new Error('not modelled: Karpenter wraps non-MIME userData as one part (we always send MIME)');
  }
  return karpenterSerialize([...goMultipartRead(userData), { contentType: 'application/node.eks.aws', content: karpenterNodeConfig }]);
}

export function eksManagedNodeGroupUserData(userData: string, eksNodeConfig = EKS_NODECONFIG): string {
  return karpenterUserData(userData, eksNodeConfig);
}

export const EKSCTL_MINIMAL_NODECONFIG = `apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
metadata:
  creationTimestamp: null
spec:
  cluster:
    apiServerEndpoint: https://ABCD1234.gr7.us-west-2.eks.amazonaws.com
    certificateAuthority: Q0E=
    cidr: 10.100.0.0/16
    name: demo
  containerd: {}
  instance:
    localStorage: {}
  kubelet:
    config:
      clusterDNS:
      - 10.100.0.10
    flags:
    - --node-labels=alpha.eksctl.io/nodegroup-name=soci
`;

export function eksctlUserData(ng: { preBootstrapCommands?: string[]; overrideBootstrapCommand?: string; ami?: string }): string {
  const boundary = 'eksctl-boundary-0123456789abcdef';
  const nodeConfig = (content: string) => ({ headers: [['Content-Type', 'application/node.eks.aws']] as [string, string][], content });
  const entries = [
    ...(ng.preBootstrapCommands ?? []).map((c) => ({
      headers: [['Content-Type', 'text/x-shellscript'], ['Content-Type', 'charset="us-ascii"']] as [string, string][],
      content: `#!/bin/bash\n${c}`,
    })),
    ...(ng.ami ? [nodeConfig(EKSCTL_MINIMAL_NODECONFIG)] : []),
    ...(ng.overrideBootstrapCommand === undefined ? [] : [nodeConfig(ng.overrideBootstrapCommand)]),
  ];
  const userData = `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=${boundary}\r\n\r\n` + goMultipartWrite(entries, boundary, '\r\n');
  return ng.ami ? userData : eksManagedNodeGroupUserData(userData);
}
