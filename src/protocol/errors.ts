/** A protocol-level rejection, carrying the upstream hymx error code (`err_...`). */
export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    readonly detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "ProtocolError";
  }
}
