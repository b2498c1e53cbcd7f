// bottlerocket/settings.toml against Bottlerocket's settings model for SOCI (settings
// container-runtime-plugins.soci-snapshotter, Bottlerocket 1.44.0 and later): what it carries, and
// what render says about the profile values it cannot carry.
import { load as loadToml } from 'js-toml';
import { describe, expect, it } from 'vitest';
import { render } from '../../src/index.js';

const profile = (parallel: string) =>
  `node: { arch: x86_64 }\nsoci:\n  mode: parallel\n  source: release\n  version: 0.15.0\n  sha256: { amd64: ${'1'.repeat(64)} }\n  parallel: { ${parallel} }\n`;
const settingsOf = (r: ReturnType<typeof render>) =>
  (loadToml(r.artifacts.find((a) => a.path === 'bottlerocket/settings.toml')!.content) as { settings: Record<string, any> }).settings['container-runtime-plugins'][
    'soci-snapshotter'
  ]['parallel-pull-unpack'];

describe('Bottlerocket settings', () => {
  it('carries soci.parallel as Bottlerocket keys, with no warning', () => {
    const r = render(profile('maxConcurrentDownloads: 30, maxConcurrentDownloadsPerImage: 10, maxConcurrentUnpacks: 8, maxConcurrentUnpacksPerImage: 4'));
    expect(settingsOf(r)).toMatchObject({ 'max-concurrent-downloads': 30, 'max-concurrent-downloads-per-image': 10, 'max-concurrent-unpacks': 8, 'max-concurrent-unpacks-per-image': 4 });
    expect(r.warnings).toEqual([]);
  });

  it('says which profile settings it does not carry (mirrors, proxy, metrics)', () => {
    const r = render(profile('maxConcurrentDownloadsPerImage: 10').replace('  parallel:', '  proxy: { https: "http://proxy.example.com:3128" }\n  parallel:'));
    expect(r.warnings).toEqual(['bottlerocket/settings.toml carries the SOCI settings only; soci.proxy are not translated to Bottlerocket settings']);
  });

  it("global limits of -1 are left out silently: Bottlerocket's default is -1 (unbounded) too", () => {
    const r = render(profile('maxConcurrentDownloads: -1, maxConcurrentUnpacks: -1'));
    expect(settingsOf(r)).not.toHaveProperty('max-concurrent-downloads');
    expect(settingsOf(r)).not.toHaveProperty('max-concurrent-unpacks');
    expect(r.warnings).toEqual([]);
  });

  it('says so when a per-image limit of -1 (unlimited) cannot be carried: the nodes would get a limit instead', () => {
    const r = render(profile('maxConcurrentDownloadsPerImage: -1, maxConcurrentUnpacksPerImage: -1'));
    expect(settingsOf(r)).not.toHaveProperty('max-concurrent-downloads-per-image');
    expect(settingsOf(r)).not.toHaveProperty('max-concurrent-unpacks-per-image');
    expect(r.warnings).toEqual([
      'bottlerocket/settings.toml leaves out soci.parallel.maxConcurrentDownloadsPerImage, soci.parallel.maxConcurrentUnpacksPerImage: -1 (unlimited): Bottlerocket documents positive numbers only for them, so Bottlerocket nodes get its default limit instead (3 downloads per image); give a number to have the same limit on every node',
    ]);
  });
});
