/** A runtime inside an instance: what `/vmm/*` drives. Code here runs in the container. */
export interface Tag {
  name: string;
  value: string;
}

export type Meta = Record<string, unknown> & {
  Action?: string;
  Data?: string;
  Sequence?: number;
  Pid?: string;
  "Item-Id"?: string;
};

export interface RuntimeResult {
  Messages: { Sequence?: string; Target: string; Data?: string; Tags: Tag[] }[];
  Spawns: unknown[];
  Assignments: unknown[];
  Output: unknown;
  Data: string;
  Cache: Record<string, string> | null;
  Error: null;
}

export interface Runtime {
  apply(from: string, meta: Meta, params: Record<string, string>): Promise<RuntimeResult>;
  checkpoint(): Promise<string>;
}

export type RuntimeFactory = (opts: {
  tags: Record<string, string>;
  state?: string;
}) => Promise<Runtime>;
