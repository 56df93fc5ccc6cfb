import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { CofferError } from "../errors.js";

/** An output path a download cannot write to; found before anything is fetched or paid for. */
export class OutputPathError extends CofferError {
  override name = "OutputPathError";
}

/**
 * Refuses an output path before a download starts: a missing parent folder, a directory, a folder we cannot
 * write to (the partial file lives next to the output), or an existing file unless `force`.
 */
export async function checkOutputPath(outPath: string, options: { force?: boolean } = {}): Promise<void> {
  const folder = dirname(outPath);
  const folderStat = await stat(folder).catch(() => undefined);
  if (!folderStat?.isDirectory()) throw new OutputPathError(`the folder ${folder} does not exist: create it first or choose another output path`, { code: "output-folder-missing" });
  const existing = await stat(outPath).catch(() => undefined);
  if (existing?.isDirectory()) throw new OutputPathError(`${outPath} is a directory: give a file path`, { code: "output-is-directory" });
  if (existing && !options.force) throw new OutputPathError(`${outPath} already exists: pass --force to overwrite it`, { code: "output-exists" });
  for (const path of existing ? [folder, outPath] : [folder]) {
    await access(path, constants.W_OK).catch((cause) => {
      throw new OutputPathError(`cannot write to ${path}: check its permissions`, { code: "output-not-writable", cause });
    });
  }
}

/** Where a download writes before it is complete; renamed onto the output path only once verified. */
export function partialPathFor(outPath: string, downloadId: string): string {
  return `${outPath}.${downloadId.slice(2, 10)}.partial`;
}
