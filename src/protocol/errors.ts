import { VmdError } from "../errors.js";

/** A protocol-level rejection, carrying the upstream hymx error code (`err_...`). */
export class ProtocolError extends VmdError {
  constructor(
    code: string,
    readonly detail?: string,
  ) {
    super(code, detail ? `${code}: ${detail}` : code);
  }
}
