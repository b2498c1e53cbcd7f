// A real pull through soci on the booted test node, in every mode: our user data boots the node (real
// nodeadm, real soci-snapshotter-grpc v0.15.0, real containerd), then kubelet's own pull path (CRI
// PullImage on containerd's socket) fetches an image from a registry on the node's loopback, and the
// container runs. This is the proof that our wiring makes soci do its job:
//   - lazy: soci mounts the layers that have a zTOC over FUSE and fetches only what is read;
//   - parallel: soci downloads and unpacks every layer itself, no FUSE;
//   - lazy with parallel fallback: an image without a SOCI index is pulled by parallel pull, one with an
//     index is still loaded lazily;
//   - the same lazy pull on the containerd 1.7 line.
// The registry is Debian's docker-registry and the images are built here (test/support/pull-images.ts)
// and made SOCI-enabled by the real `soci convert` (index manifest v2). Only the small image: the ~1 GiB
// one is for `npm run bench`.
import { load as loadToml } from 'js-toml';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureHarness, withNode, type FakeNode } from './harness/index.js';
import { nodeCri, startRegistry, type Registry } from './harness/registry.js';
import { smallImage, userDataFor, type Mode, type PullImage } from './support/pull-images.js';

const SOCI_ROOT = '/var/lib/soci-snapshotter-grpc';

/** soci's FUSE mounts in the node (soci's unit has no private mount namespace). */
async function fuseMounts(node: FakeNode): Promise<string[]> {
  // findmnt exits 1 when it finds none
  const r = await node.exec(['findmnt', '-rn', '-t', 'fuse.rawBridge', '-o', 'TARGET']);
  if (r.code > 1) throw new Error(`findmnt: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Files soci unpacked onto its own disk (not through FUSE): snapshot dirs holding the path. */
async function unpackedBySoci(node: FakeNode, imagePath: string): Promise<string[]> {
  // -xdev: not into FUSE mounts (those are lazily loaded, not unpacked)
  const out = await node.run(`find ${SOCI_ROOT}/snapshotter/snapshots -xdev -path '*/fs${imagePath}'`);
  return out.split('\n').filter(Boolean);
}

/** The node, booted with our user data, with its registry holding the image (as built, and SOCI-enabled). */
async function prepare(node: FakeNode, mode: Mode, ...images: PullImage[]): Promise<Registry> {
  // our script ran in cloud-final and wired soci; nodeadm-run started containerd on it
  expect(await node.journal()).toContain(`soci-installer: done: soci-snapshotter in ${mode} mode`);
  await node.waitFor('systemctl is-active containerd', { timeoutMs: 60_000 });
  const config = loadToml(await node.readFile('/etc/containerd/config.toml')) as any;
  expect(config.proxy_plugins?.soci?.address).toBe('/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock');
  const registry = await startRegistry(node);
  for (const image of images) {
    await registry.push(image.plain.dir, `${image.name}:plain`);
    await registry.push(image.soci.dir, `${image.name}:soci`);
  }
  registry.resetLog();
  return registry;
}

/** kubelet's pull: CRI PullImage on containerd's socket. */
async function criPull(node: FakeNode, ref: string): Promise<void> {
  const cri = nodeCri(node);
  try {
    expect(await cri.pull(ref)).toMatch(/^sha256:[0-9a-f]{64}$/);
  } finally {
    cri.close();
  }
}

/** Runs the pulled image's command on soci's snapshots (exit 0); returns its output. */
async function runImage(node: FakeNode, ref: string, name: string): Promise<string> {
  // the host's cgroup v2 has no controllers here: --cpu-shares 0 (see test/harness/README.md)
  const r = await node.exec(['ctr', '--namespace', 'k8s.io', 'run', '--rm', '--snapshotter', 'soci', '--cpu-shares', '0', ref, name], { timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

async function pullAndRun(node: FakeNode, ref: string, name: string): Promise<string> {
  await criPull(node, ref);
  return runImage(node, ref, name);
}

/** Bytes the registry sent of the image's large layer (the one with a zTOC in the SOCI-enabled image). */
const lazyLayerBytes = (registry: Registry, image: PullImage) => registry.blobBytes().get(image.lazyLayer.digest) ?? 0;

beforeAll(async () => {
  await ensureHarness(); // builds the test node on a fresh machine (about 2 minutes)
  smallImage(); // builds and converts the image once (about a second)
}, 900_000);

describe('a real pull through soci on the booted node', { timeout: 300_000 }, () => {
  for (const line of ['2', '1.7'] as const) {
    it(`lazy, containerd ${line}: layers with a zTOC are FUSE-mounted and fetched only as far as they are read; the container runs`, async () => {
      const image = smallImage();
      await withNode({ containerd: line, name: `pull-lazy-${line}`, userData: userDataFor(line, 'lazy') }, async (node) => {
        const registry = await prepare(node, 'lazy', image);
        const ref = `${registry.host}/${image.name}:soci`;
        await criPull(node, ref);
        // one FUSE mount per layer soci indexed (the others are under soci's 10 MiB minimum and fetched whole)
        expect(image.soci.ztocLayers).toEqual([image.lazyLayer.digest]);
        expect(await fuseMounts(node)).toHaveLength(image.soci.ztocLayers.length);
        const log = await node.journal('soci-snapshotter.service');
        expect(log).toContain('fetching SOCI index from remote registry');
        expect(log).toContain('remote snapshot successfully prepared');
        // the pull did not fetch the 32 MiB layer: its footer, sometimes one 4 MiB span (seen on containerd 1.7)
        expect(lazyLayerBytes(registry, image)).toBeLessThan(image.lazyLayer.size / 4);

        expect(await runImage(node, ref, 'lazy')).toBe(image.expectedOutput);
        // reading one small file fetched its span (4 MiB), not the layer
        expect(lazyLayerBytes(registry, image)).toBeGreaterThan(0);
        expect(lazyLayerBytes(registry, image)).toBeLessThan(image.lazyLayer.size / 2);
        await registry.stop();
      });
    });
  }

  it('parallel, containerd 2: soci downloads and unpacks every layer itself, no FUSE, even for an image with a SOCI index', async () => {
    const image = smallImage();
    await withNode({ containerd: '2', name: 'pull-parallel', userData: userDataFor('2', 'parallel') }, async (node) => {
      const registry = await prepare(node, 'parallel', image);
      const out = await pullAndRun(node, `${registry.host}/${image.name}:soci`, 'parallel');
      expect(out).toBe(image.expectedOutput);
      expect(await fuseMounts(node)).toEqual([]);
      expect(await node.journal('soci-snapshotter.service')).toContain('preparing snapshot with parallel pull/unpack');
      expect(lazyLayerBytes(registry, image)).toBeGreaterThanOrEqual(image.lazyLayer.size);
      // the layers' files are on soci's own disk, unpacked by soci (not by containerd's overlayfs)
      expect(await unpackedBySoci(node, '/app/hello.txt')).toHaveLength(1);
      expect(await unpackedBySoci(node, '/data/big.bin')).toHaveLength(1);
      await registry.stop();
    });
  });

  it('lazy with parallel fallback, containerd 2: an unconverted image is pulled by parallel pull, a converted one lazily', async () => {
    // two images: the SOCI-enabled one has the same layers as its unconverted self, which containerd would
    // find already unpacked
    const image = smallImage();
    const other = smallImage('other');
    const mode = 'lazy-with-parallel-fallback';
    await withNode({ containerd: '2', name: 'pull-fallback', userData: userDataFor('2', mode) }, async (node) => {
      const registry = await prepare(node, mode, image, other);
      expect(await pullAndRun(node, `${registry.host}/${image.name}:plain`, 'fallback')).toBe(image.expectedOutput);
      expect(await fuseMounts(node)).toEqual([]);
      expect(await node.journal('soci-snapshotter.service')).toContain('no SOCI index found; falling back to parallel pull/unpack');
      expect(lazyLayerBytes(registry, image)).toBeGreaterThanOrEqual(image.lazyLayer.size);
      expect(await unpackedBySoci(node, '/app/hello.txt')).toHaveLength(1);

      registry.resetLog();
      expect(await pullAndRun(node, `${registry.host}/${other.name}:soci`, 'lazy')).toBe(other.expectedOutput);
      expect(await fuseMounts(node)).toHaveLength(other.soci.ztocLayers.length);
      expect(await node.journal('soci-snapshotter.service')).toContain('remote snapshot successfully prepared');
      expect(lazyLayerBytes(registry, other)).toBeLessThan(other.lazyLayer.size / 2);
      await registry.stop();
    });
  });
});
