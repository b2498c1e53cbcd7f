// What each soci.mode is, in one table. The schema's enum, the profile checks, the plan, the soci
// config, Bottlerocket, check-image's verdicts: each reads a trait here rather than comparing mode
// names, so a mode is added or changed in this file alone.
import type { Auth } from './profile/schema.js';

export interface ModeTraits {
  /** We install soci and wire containerd to it. false: nodeadm's FastImagePull gate does it all, on every boot. */
  installs: boolean;
  /** Lazy loading of images that carry a SOCI index manifest v2 ([pull_modes.soci_v2]). */
  lazy: boolean;
  /** Parallel pull and unpack, of every image or (with fallback) of images without an index. */
  parallel: boolean;
  /** Parallel pull only as the fallback for images lazy loading cannot serve. */
  fallback: boolean;
  /** The oldest soci-snapshotter release that has the mode. 0.0.0 where we install nothing: nodeadm runs the AMI's soci. */
  minSociVersion: string;
  /**
   * Where pulled layers are kept: parallel pull as a fallback keeps them in containerd's content store.
   * undefined: not ours to choose (nodeadm writes soci's config). Parallel pull that keeps unpacked
   * layers needs containerd's too: the plan decides that case (contentStoreOf).
   */
  contentStore: 'soci' | 'containerd' | undefined;
  /** Values of soci.auth the mode refuses, and why (checked at load). */
  refusedAuths: Partial<Record<Auth, string>>;
  /** soci.* keys the mode refuses, and why (checked at load). */
  refusedSociKeys: { keys: readonly string[]; why: string } | undefined;
}

// D9: cri-keychain credentials live in soci's memory only, are never refreshed and are gone when soci
// restarts; lazy reads need them for the whole life of a container.
const LAZY_CRI_KEYCHAIN =
  "lazy loading reads layers for hours, and those credentials live only in soci's memory, are never refreshed and are lost when soci restarts; use auth \"ecr-credential-helper\" (or mode \"parallel\")";

export const MODE_TRAITS = {
  lazy: {
    installs: true,
    lazy: true,
    parallel: false,
    fallback: false,
    minSociVersion: '0.10.0', // index manifest v2
    contentStore: 'soci',
    refusedAuths: { 'cri-keychain': LAZY_CRI_KEYCHAIN },
    refusedSociKeys: undefined,
  },
  parallel: {
    installs: true,
    lazy: false,
    parallel: true,
    fallback: false,
    minSociVersion: '0.11.0', // parallel pull/unpack
    contentStore: 'soci',
    refusedAuths: {},
    refusedSociKeys: undefined,
  },
  'lazy-with-parallel-fallback': {
    installs: true,
    lazy: true,
    parallel: true,
    fallback: true,
    minSociVersion: '0.14.0', // parallel pull as fallback
    contentStore: 'containerd',
    refusedAuths: { 'cri-keychain': LAZY_CRI_KEYCHAIN },
    refusedSociKeys: undefined,
  },
  'fast-image-pull': {
    installs: false,
    lazy: false,
    parallel: true,
    fallback: false,
    minSociVersion: '0.0.0',
    contentStore: undefined,
    refusedAuths: {},
    // nodeadm rewrites soci's config and kubelet's image endpoint on every boot in this mode:
    // anything we would set is silently overridden, so refuse it.
    refusedSociKeys: {
      keys: ['source', 'version', 'releaseBaseUrl', 'sha256', 'auth', 'parallel', 'mirrors', 'proxy', 'metricsAddress', 'wiring', 'ecrCredentialHelper'],
      why: "nodeadm writes soci's configuration itself on every boot and would silently override it",
    },
  },
} as const satisfies Record<string, ModeTraits>;

export type Mode = keyof typeof MODE_TRAITS;

/** Every mode, in the table's order (the schema's enum). */
export const MODES = Object.keys(MODE_TRAITS) as Mode[];

export function modeTraits(mode: Mode): ModeTraits {
  return MODE_TRAITS[mode];
}

/** The modes that install soci, as a profile message lists them: "lazy, parallel or lazy-with-parallel-fallback". */
export function installingModes(): string {
  const names = MODES.filter((m) => MODE_TRAITS[m].installs);
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}
