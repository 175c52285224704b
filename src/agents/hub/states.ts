// The states of a hub task, apart from the stores so a browser bundle can use the list too.

/** Every state a task passes through, in order; the last five are final. */
export const TASK_STATES = [
  "queued",
  "dispatched",
  "running",
  "succeeded",
  "failed",
  "timeout",
  "cancelled",
  "interrupted",
] as const;
