import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { TruncatedFileError } from "./errors.js";

/** File primitives of the proof engine: exact reads, and writes that never leave a half-written file. */

/**
 * Writes `path` through a temporary file (`<path>.partial-<pid>`) that is renamed into place only when
 * `write` succeeds; on any failure or abort the temporary file is removed. Nothing half-written is ever
 * found at `path`. With `sync`, the data is flushed to disk before the rename.
 */
export async function writeFileAtomically<T>(path: string, write: (output: FileHandle) => Promise<T>, options: { sync?: boolean } = {}): Promise<T> {
  const partial = `${path}.partial-${process.pid}`;
  const output = await open(partial, "w");
  let closed = false;
  try {
    const result = await write(output);
    if (options.sync) await output.sync();
    await output.close();
    closed = true;
    await rename(partial, path);
    return result;
  } catch (error) {
    if (!closed) await output.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
}

/** Reads exactly `length` bytes at `position` into `target`, or throws TruncatedFileError. */
export async function readFully(handle: FileHandle, target: Uint8Array, length: number, position: number, path: string, expectedSize: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(target, done, length - done, position + done);
    if (bytesRead === 0) throw new TruncatedFileError(path, expectedSize, position + done);
    done += bytesRead;
  }
}
