import { open, rename, rm, type FileHandle } from "node:fs/promises";

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
