// Builds the /etc/eks/pause.tar STAND-IN: a tiny OCI image archive named
// localhost/kubernetes/pause:latest (what `ctr images export` writes on an EKS AMI), importable with
// `ctr -n k8s.io images import`. Its single layer holds /pause, a 200-byte static x86-64 program
// written here byte by byte: it waits in pause(2) and exits 0 on SIGTERM or SIGINT, like the real one.
//
//   node pause-image.mjs OUT.tar        writes the archive (byte-for-byte reproducible)
import fs from 'node:fs';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const PAUSE_IMAGE_NAME = 'localhost/kubernetes/pause:latest';

// x86-64 machine code, loaded at 0x400078 (ELF header + one program header come first).
//   rt_sigaction(SIGTERM, &act, NULL, 8); rt_sigaction(SIGINT, &act, NULL, 8);
//   loop: pause(); jmp loop
//   handler: exit(0)
//   act: { handler, SA_RESTORER, restorer = handler, mask = 0 }
function pauseProgram() {
  const base = 0x400000;
  const codeOffset = 64 + 56;
  const handlerAt = 63;
  const actAt = 72;
  const code = Buffer.from([
    // rt_sigaction(15, act, 0, 8)
    0xb8, 0x0d, 0x00, 0x00, 0x00, // mov eax, 13
    0xbf, 0x0f, 0x00, 0x00, 0x00, // mov edi, 15
    0x48, 0x8d, 0x35, actAt - 17, 0x00, 0x00, 0x00, // lea rsi, [rip + act]
    0x31, 0xd2, // xor edx, edx
    0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov r10d, 8
    0x0f, 0x05, // syscall
    // rt_sigaction(2, act, 0, 8)
    0xb8, 0x0d, 0x00, 0x00, 0x00,
    0xbf, 0x02, 0x00, 0x00, 0x00,
    0x48, 0x8d, 0x35, actAt - 44, 0x00, 0x00, 0x00,
    0x31, 0xd2,
    0x41, 0xba, 0x08, 0x00, 0x00, 0x00,
    0x0f, 0x05,
    // loop: pause(); jmp loop
    0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34
    0x0f, 0x05, // syscall
    0xeb, 0xf7, // jmp -9
    // handler: exit(0)
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x31, 0xff, // xor edi, edi
    0x0f, 0x05, // syscall
  ]);
  if (code.length !== actAt) throw new Error(`pause program layout is off: ${code.length}`);
  const act = Buffer.alloc(32);
  act.writeBigUInt64LE(BigInt(base + codeOffset + handlerAt), 0); // sa_handler
  act.writeBigUInt64LE(0x04000000n, 8); // sa_flags = SA_RESTORER (x86-64 needs one)
  act.writeBigUInt64LE(BigInt(base + codeOffset + handlerAt), 16); // sa_restorer (never reached)
  const size = codeOffset + code.length + act.length;

  const ehdr = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(ehdr, 0); // ELF64, little endian, SysV
  ehdr.writeUInt16LE(2, 16); // ET_EXEC
  ehdr.writeUInt16LE(0x3e, 18); // x86-64
  ehdr.writeUInt32LE(1, 20); // EV_CURRENT
  ehdr.writeBigUInt64LE(BigInt(base + codeOffset), 24); // entry
  ehdr.writeBigUInt64LE(64n, 32); // program headers at 64
  ehdr.writeUInt16LE(64, 52); // header size
  ehdr.writeUInt16LE(56, 54); // program header size
  ehdr.writeUInt16LE(1, 56); // one program header

  const phdr = Buffer.alloc(56);
  phdr.writeUInt32LE(1, 0); // PT_LOAD
  phdr.writeUInt32LE(5, 4); // R + X
  phdr.writeBigUInt64LE(0n, 8); // from file offset 0
  phdr.writeBigUInt64LE(BigInt(base), 16); // vaddr
  phdr.writeBigUInt64LE(BigInt(base), 24); // paddr
  phdr.writeBigUInt64LE(BigInt(size), 32); // filesz
  phdr.writeBigUInt64LE(BigInt(size), 40); // memsz
  phdr.writeBigUInt64LE(0x1000n, 48); // align
  return Buffer.concat([ehdr, phdr, code, act]);
}

/** A ustar archive of regular files (and directories when content is null); mtime 0, root-owned. */
export function tar(entries) {
  const blocks = [];
  for (const { name, content, mode } of entries) {
    const isDir = content === null;
    const data = isDir ? Buffer.alloc(0) : Buffer.from(content);
    const h = Buffer.alloc(512);
    const field = (value, offset, length) => Buffer.from(value).copy(h, offset, 0, length);
    const octal = (n, offset, length) => field(n.toString(8).padStart(length - 1, '0') + '\0', offset, length);
    if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`);
    field(name, 0, 100);
    octal(mode ?? (isDir ? 0o755 : 0o644), 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(data.length, 124, 12);
    octal(0, 136, 12);
    h.fill(0x20, 148, 156); // checksum counted as spaces
    field(isDir ? '5' : '0', 156, 1);
    field('ustar\0', 257, 6);
    field('00', 263, 2);
    field('root', 265, 32);
    field('root', 297, 32);
    let sum = 0;
    for (const b of h) sum += b;
    field(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

/** The pause image as an OCI archive (Buffer), plus the digests tests may want. */
export function buildPauseImage(name = PAUSE_IMAGE_NAME) {
  const layer = tar([{ name: 'pause', content: pauseProgram(), mode: 0o755 }]);
  const layerDigest = `sha256:${sha256(layer)}`;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      history: [{ created_by: 'soci-installer test stand-in (pause)' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = `sha256:${sha256(manifest)}`;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: {
            'io.containerd.image.name': name,
            'org.opencontainers.image.ref.name': name.slice(name.lastIndexOf(':') + 1),
          },
        },
      ],
    }),
  );
  const blob = (buf) => ({ name: `blobs/sha256/${sha256(buf)}`, content: buf, mode: 0o444 });
  const archive = tar([
    { name: 'blobs/', content: null },
    { name: 'blobs/sha256/', content: null },
    blob(config),
    blob(layer),
    blob(manifest),
    { name: 'index.json', content: index },
    { name: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
  ]);
  // a single-layer image: its chain ID is the layer's diff ID
  return { archive, name, manifestDigest, chainId: layerDigest, program: pauseProgram() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: pause-image.mjs OUT.tar [--program OUT]\n');
    process.exit(2);
  }
  const image = buildPauseImage();
  fs.writeFileSync(out, image.archive);
  if (process.argv[3] === '--program' && process.argv[4]) fs.writeFileSync(process.argv[4], image.program, { mode: 0o755 });
}
