import { Readable, type Writable } from "node:stream";
import type { DockerClient } from "./client.js";

/** Bytes of one slot of the upload's ring: a module loader hands ~1.5 MB pieces. */
const SLOT_BYTES = 2 << 20;
/** Slots in flight by default: how far the caller may run ahead of the engine's read (12 MB). */
const DEFAULT_SLOTS = 6;

/** An image archive being written to the engine's `POST /images/load` by the caller. */
export interface ImageUpload {
  /**
   * Copies `bytes` (any size) into a free slot of the upload's own ring and queues it, so the
   * caller may reuse its buffer at once; waits while every slot is still on its way to the engine.
   * Throws the load's failure (engine error, broken connection) once there is one.
   */
  write(bytes: Buffer): Promise<void>;
  /** Ends the archive; resolves to the references the engine reported (as DockerClient.loadImage). */
  end(): Promise<string[]>;
  /** Breaks the request off, so the engine drops the partial archive; `end` then rejects. */
  abort(err: Error): void;
}

/**
 * dockerode sends a body by piping a stream into its HTTP request; this stream hands that request
 * over instead, so the upload can write to it with completion callbacks (which a pipe hides).
 */
class RequestHandover extends Readable {
  constructor(private readonly handOver: (request: Writable) => void) {
    super();
  }
  override _read(): void {}
  override pipe<T extends NodeJS.WritableStream>(destination: T): T {
    this.handOver(destination as unknown as Writable);
    return destination;
  }
}

/**
 * Starts `docker load` with the caller writing the archive (gzip or plain tar) piece by piece.
 * Pieces are copied into a ring of `slots` reused buffers and each slot is free again once the
 * engine's socket has taken it: no allocation per piece, at most `slots` × 2 MB in memory, and the
 * caller's next piece is prepared while the engine reads the last. Throws what
 * DockerClient.loadImage throws when the engine refuses the request before the archive starts.
 */
export async function startImageUpload(
  client: DockerClient,
  slots = DEFAULT_SLOTS,
): Promise<ImageUpload> {
  let take!: (request: Writable) => void;
  let refuse!: (err: unknown) => void;
  const handedOver = new Promise<Writable>((resolve, reject) => {
    take = resolve;
    refuse = reject;
  });
  const loading = client.loadImage(new RequestHandover((r) => take(r)));
  loading.then(() => refuse(new Error("the engine answered before the archive was sent")), refuse);
  const request = await handedOver;

  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  loading.catch((err: unknown) => {
    failure ??= err;
    signal();
  });
  request.on("error", (err) => {
    failure ??= err;
    signal();
  });
  const free: Buffer[] = [];
  let inFlight = 0;
  return {
    async write(bytes) {
      while (inFlight >= slots && failure === undefined) await new Promise<void>((r) => (wake = r));
      if (failure !== undefined) throw failure;
      let slot = free.pop();
      if (!slot || slot.length < bytes.length)
        slot = Buffer.allocUnsafe(Math.max(bytes.length, SLOT_BYTES));
      const used = slot;
      bytes.copy(used);
      inFlight++;
      request.write(used.subarray(0, bytes.length), (err) => {
        inFlight--;
        if (err) failure ??= err;
        else free.push(used);
        signal();
      });
    },
    async end() {
      request.end();
      return loading;
    },
    abort(err) {
      failure ??= err;
      request.destroy(err);
      signal();
    },
  };
}
