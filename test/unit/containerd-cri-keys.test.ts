// The rule both checks of a user's containerd.config apply (src/containerd-cri-keys.ts): which keys
// under io.containerd.grpc.v1.cri containerd 2 would ignore once soci's version 3 wiring is merged in.
// test/validators.test.ts holds the same configs against the real nodeadm and containerd 2.2.4.
import { describe, expect, it } from 'vitest';
import { CRI_MOVED, CRI_SERVER_KEYS, staleCriKeys, staleCriProblem } from '../../src/containerd-cri-keys.js';

const CRI = '[plugins."io.containerd.grpc.v1.cri"]\n';

describe('staleCriKeys', () => {
  it("names the keys outside the CRI server's config, in any TOML form, sorted", () => {
    expect(staleCriKeys(`${CRI}stream_idle_timeout = "1h"\nmax_concurrent_downloads = 7\n`)).toEqual(['max_concurrent_downloads']);
    expect(staleCriKeys('[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "overlayfs"\n')).toEqual(['containerd']);
    expect(staleCriKeys(`[plugins]\n'io.containerd.grpc.v1.cri'.sandbox_image = "p"\n"io.containerd.grpc.v1.cri".cni = { bin_dir = "/x" }\n`)).toEqual(['cni', 'sandbox_image']);
    expect(staleCriKeys('plugins = { "io.containerd.grpc.v1.cri" = { enable_selinux = true, disable_tcp_service = false } }\n')).toEqual(['enable_selinux']);
    expect(staleCriKeys(`${CRI}sandbox_image = "p"\n[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "x"\n`)).toEqual(['containerd', 'sandbox_image']);
  });

  it("keeps the CRI server's keys, and anything containerd 2 reads as it stands", () => {
    const server = `${CRI}${CRI_SERVER_KEYS.filter((k) => k !== 'x509_key_pair_streaming').map((k) => `${k} = "x"`).join('\n')}\n[plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]\ntls_cert_file = "/c"\n`;
    expect(staleCriKeys(server)).toEqual([]);
    // a version 3 CRI name anywhere: nodeadm migrates nothing, with or without soci
    expect(staleCriKeys(`${CRI}max_concurrent_downloads = 7\n[plugins."io.containerd.cri.v1.runtime"]\nenable_cdi = true\n`)).toEqual([]);
    // version 2 said outright: containerd migrates it as it loads
    expect(staleCriKeys(`version = 2\n${CRI}max_concurrent_downloads = 7\n`)).toEqual([]);
    expect(staleCriKeys(`version = 3\n${CRI}max_concurrent_downloads = 7\n`)).toEqual(['max_concurrent_downloads']);
    expect(staleCriKeys('[metrics]\naddress = "127.0.0.1:1338"\n')).toEqual([]);
    expect(staleCriKeys(`${CRI}x = `)).toEqual([]); // nodeadm refuses what does not parse
  });

  it('judges the texts of several NodeConfigs merged as nodeadm merges them: in order, a later value winning', () => {
    const v1 = `${CRI}max_concurrent_downloads = 7\n`;
    // keys add up across the texts
    expect(staleCriKeys(`${CRI}sandbox_image = "p"\n`, '', `[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "x"\n`, v1)).toEqual(['containerd', 'max_concurrent_downloads', 'sandbox_image']);
    // a version in one text applies to the keys of another; the later one wins
    expect(staleCriKeys('version = 2\n', v1)).toEqual([]);
    expect(staleCriKeys(`version = 2\n${v1}`, 'version = 3\n')).toEqual(['max_concurrent_downloads']);
    // a version 3 name in another text, and in a comment of the only text: nodeadm migrates nothing
    expect(staleCriKeys('[plugins."io.containerd.cri.v1.images"]\nmax_concurrent_downloads = 7\n', v1)).toEqual([]);
    expect(staleCriKeys(`# io.containerd.cri.v1.images later\n${v1}`)).toEqual([]);
    // nodeadm marshals a merged text again, its comments gone
    expect(staleCriKeys(`# io.containerd.cri.v1.images later\n${v1}`, '[metrics]\naddress = "127.0.0.1:1338"\n')).toEqual(['max_concurrent_downloads']);
    // one text that does not parse fails nodeadm's merge, with or without us
    expect(staleCriKeys(v1, `${CRI}x = `)).toEqual([]);
  });
});

describe('staleCriProblem', () => {
  it('says where each key lives now: the images plugin for image keys, the runtime plugin for the rest', () => {
    const text = staleCriProblem(['sandbox_image', 'enable_selinux', 'constructor']);
    expect(text).toContain('sandbox_image (now in io.containerd.cri.v1.images as pinned_images.sandbox); enable_selinux (now in io.containerd.cri.v1.runtime); constructor (now in io.containerd.cri.v1.runtime).');
    expect(Object.keys(CRI_MOVED).filter((k) => CRI_SERVER_KEYS.includes(k))).toEqual([]);
  });
});
