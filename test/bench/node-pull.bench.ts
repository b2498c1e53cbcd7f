// Pull figures on the booted test node (`npm run bench`, or `bash scripts/bench-pull.sh` alone): the time
// from the start of kubelet's pull (CRI PullImage) to the end of `ctr run` of the image's command, which
// reads a few files, against a registry on the node's loopback shaped to 1 Gbit/s with tc. One node per
// setup, booted with our user data for that mode (the baseline without any: containerd's overlayfs).
// Prints medians of PULL_BENCH_RUNS runs (default 3) and ratios against overlayfs; asserts only that
// each container printed what its image holds. Not part of `npm test`.
//
// Env: PULL_BENCH_RUNS (3), PULL_BENCH_RATE (tc rate, "1gbit"), PULL_BENCH_IMAGES ("small,big").
import { describe, expect, it } from 'vitest';
import { withNode, type FakeNode } from '../harness/index.js';
import { nodeCri, shapeLoopback, startRegistry, type Registry } from '../harness/registry.js';
import { bigImage, smallImage, userDataFor, type Mode, type PullImage } from '../support/pull-images.js';

const RUNS = Number(process.env.PULL_BENCH_RUNS ?? 3);
const RATE = process.env.PULL_BENCH_RATE ?? '1gbit';
const IMAGES = (process.env.PULL_BENCH_IMAGES ?? 'small,big').split(',');

interface Setup {
  label: string;
  /** our mode, or none: a node without soci-installer (containerd's overlayfs) */
  mode?: Mode;
  /** which form of the image is pulled */
  form: 'plain' | 'soci';
}

const SETUPS: Setup[] = [
  { label: 'overlayfs (no soci)', form: 'plain' },
  { label: 'soci lazy', mode: 'lazy', form: 'soci' },
  { label: 'soci parallel', mode: 'parallel', form: 'plain' },
  { label: 'lazy+fallback, unconverted', mode: 'lazy-with-parallel-fallback', form: 'plain' },
];

interface Run {
  pullS: number;
  totalS: number;
  fetchedMiB: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (t0: number) => (performance.now() - t0) / 1000;

async function snapshotCount(node: FakeNode, snapshotter: string): Promise<number> {
  return (await node.run(['ctr', '--namespace', 'k8s.io', 'snapshots', '--snapshotter', snapshotter, 'ls'])).trim().split('\n').length;
}

/** One pull and run from nothing: the image is removed afterwards and its snapshots collected. */
async function pullOnce(node: FakeNode, registry: Registry, image: PullImage, setup: Setup, snapshotter: string): Promise<Run> {
  const ref = `${registry.host}/${image.name}:${setup.form}`;
  const before = await snapshotCount(node, snapshotter);
  registry.resetLog();
  const cri = nodeCri(node);
  try {
    const t0 = performance.now();
    await cri.pull(ref, 600_000);
    const pullS = seconds(t0);
    const r = await node.exec(['ctr', '--namespace', 'k8s.io', 'run', '--rm', '--snapshotter', snapshotter, '--cpu-shares', '0', ref, 'bench'], { timeoutMs: 600_000 });
    const totalS = seconds(t0);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(image.expectedOutput);
    const fetchedMiB = [...registry.blobBytes().values()].reduce((a, b) => a + b, 0) / 2 ** 20;
    // back to nothing: CRI's RemoveImage deletes synchronously (content and snapshots collected)
    await cri.remove(ref);
    await node.waitFor(`[ "$(ctr --namespace k8s.io snapshots --snapshotter ${snapshotter} ls | wc -l)" -le ${before} ]`, { timeoutMs: 60_000 });
    return { pullS, totalS, fetchedMiB };
  } finally {
    cri.close();
  }
}

describe('pull bench', () => {
  it(`pull to running container, ${RUNS} runs each, loopback registry at ${RATE}`, { timeout: 1_800_000 }, async () => {
    const images = IMAGES.map((n) => (n === 'big' ? bigImage() : smallImage()));
    const results = new Map<string, Run[]>(); // `${image}|${setup}`
    let versions = '';
    for (const setup of SETUPS) {
      const userData = setup.mode ? userDataFor('2', setup.mode) : undefined;
      await withNode({ containerd: '2', name: `bench-${setup.mode ?? 'overlayfs'}`, userData }, async (node) => {
        await node.waitFor('systemctl is-active containerd', { timeoutMs: 60_000 });
        versions ||= `containerd ${node.containerdVersion}, soci ${(await node.run('soci-snapshotter-grpc --version')).trim().split(' ')[2]}`;
        const snapshotter = setup.mode ? 'soci' : 'overlayfs';
        const registry = await startRegistry(node);
        for (const image of images) await registry.push(image[setup.form].dir, `${image.name}:${setup.form}`);
        await shapeLoopback(node, RATE);
        for (const image of images) {
          const runs: Run[] = [];
          for (let i = 0; i < RUNS; i++) runs.push(await pullOnce(node, registry, image, setup, snapshotter));
          results.set(`${image.name}|${setup.label}`, runs);
          process.stderr.write(`[bench] ${image.name} ${setup.label}: ${runs.map((r) => r.totalS.toFixed(2)).join(' ')} s\n`);
        }
        await registry.stop();
      });
    }

    const lines = [
      'Pull to running container: CRI PullImage, then ctr run of a command reading a few files, on the test node',
      `(${versions}); registry on the node's loopback shaped to ${RATE}; medians of ${RUNS} runs`,
      '',
    ];
    lines.push(`${'image'.padEnd(28)}${'setup'.padEnd(30)}${'pull s'.padStart(9)}${'total s'.padStart(9)}${'vs overlayfs'.padStart(14)}${'fetched MiB'.padStart(13)}`);
    for (const image of images) {
      const base = median(results.get(`${image.name}|${SETUPS[0]!.label}`)!.map((r) => r.totalS));
      const desc = `${image.name} (${(image.plain.bytes / 2 ** 20).toFixed(0)} MiB, ${image.plain.layers.length} layers)`;
      for (const setup of SETUPS) {
        const runs = results.get(`${image.name}|${setup.label}`)!;
        const total = median(runs.map((r) => r.totalS));
        lines.push(
          `${desc.padEnd(28)}${setup.label.padEnd(30)}${median(runs.map((r) => r.pullS)).toFixed(2).padStart(9)}${total.toFixed(2).padStart(9)}${`${(total / base).toFixed(2)}x`.padStart(14)}${median(runs.map((r) => r.fetchedMiB)).toFixed(1).padStart(13)}`,
        );
      }
    }
    process.stdout.write(`\n${lines.join('\n')}\n\n`);
  });
});
