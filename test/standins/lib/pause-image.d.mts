// Types for pause-image.mjs (plain JavaScript so that it also runs inside the node).
export declare const PAUSE_IMAGE_NAME: string;
export interface TarEntry {
  name: string;
  /** file content, or null for a directory */
  content: string | Uint8Array | null;
  mode?: number;
}
export declare function tar(entries: TarEntry[]): Buffer;
export declare function buildPauseImage(name?: string): {
  archive: Buffer;
  name: string;
  manifestDigest: string;
  /** the image's single layer diff ID, which is also its chain ID (the name of its unpacked snapshot) */
  chainId: string;
  program: Buffer;
};
