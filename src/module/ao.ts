import type { Tag } from "../protocol/tags.js";
import { VMDOCKER_FORMAT } from "./check.js";

/** The AO module's name, in the seed's `web.vmdocker-{runtime}-{version}` pattern (aos finds modules by Name). */
export const AO_MODULE_NAME = "web.vmdocker-lua-ao.v0.1.0";
/** The loader format of the module's WebAssembly (Emscripten 3.1.x, AO's second format). */
export const AO_WASM_FORMAT = "wasm32-unknown-emscripten2";
/** The heap cap of that format (the loader's own limit). */
export const AO_MEMORY_LIMIT = "500-mb";
/** Lua VM instructions one message may run (counted by the process library, deterministically). */
export const AO_COMPUTE_LIMIT = "1000000000";

/**
 * An AO module's tags, as AO's clients check them (aoconnect: Data-Protocol ao, Type Module,
 * Module-Format, Input-Encoding, Output-Encoding): AO's base tags in place of hymx's, the hymx
 * Module-Format that runs it in a container, the limits, then vmdocker's image tags.
 */
export function aoModuleTags(extension: Tag[]): Tag[] {
  return [
    { name: "Data-Protocol", value: "ao" },
    { name: "Variant", value: "ao.TN.1" },
    { name: "Type", value: "Module" },
    { name: "Module-Format", value: VMDOCKER_FORMAT },
    { name: "Input-Encoding", value: "JSON-1" },
    { name: "Output-Encoding", value: "JSON-1" },
    { name: "Memory-Limit", value: AO_MEMORY_LIMIT },
    { name: "Compute-Limit", value: AO_COMPUTE_LIMIT },
    { name: "Name", value: AO_MODULE_NAME },
    { name: "Content-Type", value: "application/wasm" },
    { name: "AO-Wasm-Format", value: AO_WASM_FORMAT },
    { name: "Lua-Version", value: "5.3.6" },
    ...extension,
  ];
}
