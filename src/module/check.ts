import { VmdError } from "../errors.js";
import type { Tag } from "../protocol/tags.js";

export const VMDOCKER_FORMAT = "hymx.vmdocker.v0.0.1";
export const IMAGE_SOURCE = "module-data";
export const ARCHIVE_FORMAT = "docker-save+gzip";
export const DEFAULT_START_COMMAND = "/usr/local/bin/start-vmdocker-agent.sh";

/** What a valid vmdocker module says about its image and runtime. */
export interface ModuleImageSpec {
  imageName: string;
  imageId: string;
  startCommand: string;
  sandboxAgent: string;
  sandboxNetwork?: string;
  sandboxName?: string;
  sandboxCommand?: string;
  openclawVersion?: string;
}

function invalid(why: string, fix: string): VmdError {
  return new VmdError("err_invalid_module", why, fix);
}

/**
 * vmdocker's checkModule (spec §3.1), in upstream's order; the first failure rejects the module.
 * A `Runtime-Backend` tag in the module is ignored: the backend is chosen at spawn time.
 */
export function checkModule(tags: Tag[]): ModuleImageSpec {
  const last = (name: string) => [...tags].reverse().find((t) => t.name === name)?.value;
  const format = last("Module-Format");
  if (format !== VMDOCKER_FORMAT) {
    throw invalid(
      `Module-Format is ${JSON.stringify(format ?? "")}, not ${VMDOCKER_FORMAT}`,
      "build the module with `vmdocker module build`",
    );
  }
  if (tags.some((t) => t.name === "Build-Type")) {
    throw invalid(
      "Build-Type modules are no longer supported",
      "rebuild it as an image module with `vmdocker module build`",
    );
  }
  const imageName = last("Image-Name")?.trim();
  if (!imageName)
    throw invalid(
      "the module has no Image-Name",
      "rebuild the module with `vmdocker module build`",
    );
  const imageId = last("Image-ID")?.trim();
  if (!imageId)
    throw invalid("the module has no Image-ID", "rebuild the module with `vmdocker module build`");
  if (last("Image-Source") !== IMAGE_SOURCE) {
    throw invalid(
      `Image-Source must be ${IMAGE_SOURCE}`,
      "rebuild the module with `vmdocker module build` (the image travels in the module data)",
    );
  }
  if (last("Image-Archive-Format") !== ARCHIVE_FORMAT) {
    throw invalid(
      `Image-Archive-Format must be ${ARCHIVE_FORMAT}`,
      "rebuild the module with `vmdocker module build`",
    );
  }
  const spec: ModuleImageSpec = {
    imageName,
    imageId,
    startCommand: last("Start-Command")?.trim() || DEFAULT_START_COMMAND,
    sandboxAgent: last("Sandbox-Agent")?.trim() || "shell",
  };
  const optional: [keyof ModuleImageSpec, string][] = [
    ["sandboxNetwork", "Sandbox-Network"],
    ["sandboxName", "Sandbox-Name"],
    ["sandboxCommand", "Sandbox-Command"],
    ["openclawVersion", "Openclaw-Version"],
  ];
  for (const [key, tag] of optional) {
    const v = last(tag)?.trim();
    if (v) spec[key] = v;
  }
  return spec;
}
