/**
 * Splits a buffer in the engine's multiplexed stream format (8-byte header: stream type, 3 zero
 * bytes, big-endian length) into stdout, stderr and both interleaved in order.
 */
export function demuxDockerBuffer(buf: Buffer): {
  stdout: string;
  stderr: string;
  combined: string;
} {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const all: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buf.length) {
    const type = buf[offset];
    const size = buf.readUInt32BE(offset + 4);
    const frame = buf.subarray(offset + 8, offset + 8 + size);
    (type === 2 ? err : out).push(frame);
    all.push(frame);
    offset += 8 + size;
  }
  return {
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
    combined: Buffer.concat(all).toString("utf8"),
  };
}
