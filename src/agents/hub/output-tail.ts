// The latest part of a task's output, bounded: what the hub keeps of a running task for late
// subscribers, and what the dashboard's page keeps on screen. No Node APIs (the page bundles it).

/** One piece of a task's output as the agent sent it. */
export interface OutputChunk {
  stream: "stdout" | "stderr";
  data: string;
}

/**
 * Keeps the last `max` characters of a stream of output chunks, dropping the oldest first (a
 * chunk cut in two keeps its end). Pushing is O(chunk), whatever the chunk sizes: dropped chunks
 * are skipped by an index and compacted away now and then.
 */
export class OutputTail {
  private chunks: OutputChunk[] = [];
  private head = 0;
  /** Characters kept now (at most `max`). */
  chars = 0;
  /** Characters dropped from the front so far. */
  dropped = 0;

  constructor(readonly max: number) {}

  push(c: OutputChunk): void {
    if (!c.data) return;
    this.chunks.push(c);
    this.chars += c.data.length;
    while (this.chars > this.max) {
      const first = this.chunks[this.head]!;
      const over = this.chars - this.max;
      if (first.data.length <= over) {
        this.head++;
        this.chars -= first.data.length;
        this.dropped += first.data.length;
      } else {
        this.chunks[this.head] = { stream: first.stream, data: first.data.slice(over) };
        this.chars -= over;
        this.dropped += over;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** The kept chunks, oldest first, as they came. */
  all(): OutputChunk[] {
    return this.chunks.slice(this.head);
  }

  /** The kept chunks with neighbours of one stream joined (fewer pieces to draw). */
  merged(): OutputChunk[] {
    const out: OutputChunk[] = [];
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      const last = out.at(-1);
      if (last && last.stream === c.stream) last.data += c.data;
      else out.push({ stream: c.stream, data: c.data });
    }
    return out;
  }
}
