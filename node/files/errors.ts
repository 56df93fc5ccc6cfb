import { CofferError } from "../errors.js";

/**
 * A refusal of the files layer (put, ls, get, recover). `code` is what the CLI maps to an exit code:
 * not-found, bad-request, file-changed, volume-too-large, path-escapes, output-exists, bad-volume,
 * hash-mismatch, no-secret, bad-phrase, key-mismatch.
 */
export class FilesError extends CofferError {
  override name = "FilesError";
}

/** A volume that does not decrypt under this user's secret, or whose header / manifest is malformed. */
export class VolumeFormatError extends FilesError {
  override name = "VolumeFormatError";
  constructor(message: string, cause?: unknown) {
    super(message, { code: "bad-volume", cause });
  }
}

/** A manifest path that would land outside the output folder (absolute, `..`, empty component). */
export class PathEscapeError extends FilesError {
  override name = "PathEscapeError";
  constructor(path: string) {
    super(`refused the path ${JSON.stringify(path)}: it would be written outside the output folder`, { code: "path-escapes" });
  }
}
