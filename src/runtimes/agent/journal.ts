import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TaskOutcome } from "./wire.js";

export type JournalEntry =
  { state: "started"; startedAt: number } | { state: "done"; outcome: TaskOutcome };

/**
 * What the agent did with each task, kept in the agent's volume so a task the hub sends again
 * (after a hub restart, a lost connection, an agent restart) is answered, never run twice.
 */
export class TaskJournal {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private file(taskId: string): string {
    return join(this.dir, `${taskId.replace(/[^\w.-]/g, "_")}.json`);
  }

  get(taskId: string): JournalEntry | undefined {
    try {
      return JSON.parse(readFileSync(this.file(taskId), "utf8")) as JournalEntry;
    } catch {
      return undefined;
    }
  }

  put(taskId: string, entry: JournalEntry): void {
    const tmp = `${this.file(taskId)}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry));
    renameSync(tmp, this.file(taskId));
  }
}
