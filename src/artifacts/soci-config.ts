// /etc/soci-snapshotter-grpc/config.toml for the chosen mode. Built as data and written with
// toToml (src/render/toml.ts), so no value needs hand escaping. soci ignores unknown keys silently: tests check every
// key against the upstream defaults file.
import { toToml } from '../render/toml.js';
import { modeTraits } from '../modes.js';
import { PATHS, type Plan } from '../plan.js';

type Table = Record<string, unknown>;

/**
 * The gzip decompressor for parallel unpacking. The AMI ships pigz, and nodeadm's own soci config
 * (amazon-eks-ami nodeadm/internal/containerd/snapshotter/soci-snapshotter.config.toml at 81fec2e8) and
 * soci's docs/parallel-mode.md (v0.15.0) use exactly this. soci will not start if the path is missing
 * (internal/archive/compression/compression.go, InitializeDecompressStreams), so the install script
 * writes the config without it where the node lacks the file (see nodeFiles: `needs`).
 */
export const UNPIGZ = '/usr/bin/unpigz';

export function sociConfigTable(plan: Plan, opts: { unpigz: boolean } = { unpigz: true }): Table {
  // TOML needs a table's plain keys before its subtables: scalars first.
  const top: Table = {};
  if (plan.metricsAddress) top.metrics_address = plan.metricsAddress;

  const parallel = plan.parallel
    ? {
        max_concurrent_downloads: plan.parallel.maxConcurrentDownloads,
        max_concurrent_downloads_per_image: plan.parallel.maxConcurrentDownloadsPerImage,
        concurrent_download_chunk_size: plan.parallel.chunkSize,
        max_concurrent_unpacks: plan.parallel.maxConcurrentUnpacks,
        max_concurrent_unpacks_per_image: plan.parallel.maxConcurrentUnpacksPerImage,
        discard_unpacked_layers: plan.parallel.discardUnpackedLayers,
        ...(opts.unpigz ? { decompress_streams: { gzip: { path: UNPIGZ, args: ['-d', '-c'] } } } : {}),
      }
    : {};
  const traits = modeTraits(plan.mode);
  const pullModes: Table = {
    soci_v1: { enable: false },
    soci_v2: { enable: traits.lazy },
    parallel_pull_unpack: !traits.parallel
      ? { enable: false }
      : traits.fallback
        ? { enable: false, experimental_parallel_pull_as_fallback: true, ...parallel }
        : { enable: true, ...parallel },
  };
  const config: Table = { ...top, pull_modes: pullModes };
  // soci's own store is its default: only containerd's is written (the plan says when, and why).
  if (plan.contentStore === 'containerd') {
    config.content_store = { type: 'containerd', containerd_address: PATHS.containerdSocket };
  }
  if (plan.auth === 'cri-keychain') {
    config.cri_keychain = { enable_keychain: true, image_service_path: PATHS.containerdSocket };
  }
  if (plan.mirrors.length > 0) {
    const host: Table = {};
    for (const m of plan.mirrors) {
      host[m.registry] = {
        mirrors: m.endpoints.map((e) => ({
          host: e.host,
          insecure: e.insecure,
          ...(e.requestTimeoutSec ? { request_timeout_sec: e.requestTimeoutSec } : {}),
        })),
      };
    }
    config.resolver = { host };
  }
  return config;
}

export function sociConfigToml(plan: Plan, opts: { unpigz: boolean } = { unpigz: true }): string {
  return (
    `# soci-snapshotter-grpc configuration, written by soci-installer ${plan.generatorVersion} (mode ${plan.mode}).\n` +
    `# Regenerate it from the profile rather than editing it here.\n\n` +
    toToml(sociConfigTable(plan, opts))
  );
}

/** Whether the config names UNPIGZ (parallel modes): then the node must have it. */
export const usesUnpigz = (plan: Plan): boolean => plan.parallel !== undefined;
