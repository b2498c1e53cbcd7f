// kubelet's image pulls, made the way kubelet makes them: CRI ImageService calls over containerd's own
// socket (runtime.v1, see cri-images.proto). containerd's CRI plugin then pulls with the snapshotter and
// snapshot annotations of its config, which is the path every pod's image takes on an EKS node
// (`ctr image pull` takes another one: containerd 2's transfer service).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cri-images.proto');

type Call = (req: object, opts: { deadline: Date }, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

export interface CriImages {
  /** PullImage; resolves to the image id (image_ref) containerd answers */
  pull(image: string, timeoutMs?: number): Promise<string>;
  /** ImageStatus; undefined when containerd does not have the image */
  status(image: string): Promise<{ id: string; size: number } | undefined>;
  remove(image: string): Promise<void>;
  close(): void;
}

/** A CRI image client for the containerd socket at socketPath (a host path, e.g. through /proc/PID/root). */
export function criImages(socketPath: string): CriImages {
  const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.runtime.v1.ImageService(`unix://${socketPath}`, grpc.credentials.createInsecure());
  const call = (method: string, req: object, timeoutMs = 60_000) =>
    new Promise<any>((resolve, reject) => {
      (client[method] as Call).call(client, req, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) =>
        err ? reject(new Error(`CRI ${method} ${JSON.stringify(req)}: ${err.message}`)) : resolve(res),
      );
    });
  return {
    pull: async (image, timeoutMs = 300_000) => (await call('PullImage', { image: { image } }, timeoutMs)).imageRef,
    status: async (image) => {
      const r = await call('ImageStatus', { image: { image } });
      return r.image ? { id: r.image.id, size: r.image.size } : undefined;
    },
    remove: async (image) => {
      await call('RemoveImage', { image: { image } });
    },
    close: () => client.close(),
  };
}
