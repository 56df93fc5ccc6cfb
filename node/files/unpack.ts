/**
 * Reading a volume (docs/protocol.md §13.2–13.4): decrypts only the chunks a read needs, checks the manifest and
 * every restored file's SHA-256, and writes nothing outside the output folder.
 */
import { createHash } from "node:crypto";
import { lstat, mkdir, open, rename, rm, utimes } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { CHUNK_SIZE } from "../proofs/constants.js";
import { FilesError, PathEscapeError, VolumeFormatError } from "./errors.js";
import { checkRelativePath, type Manifest, type ManifestEntry } from "./manifest.js";
import { chunkAt, decodeHeader, openChunk, streamStartOf, VOLUME_ID_BYTES, volumeKey, type VolumeHeader } from "./volume-format.js";

type FileHandle = Awaited<ReturnType<typeof open>>;

/** An open volume file: decrypts stream ranges, one chunk at a time (the last one cached). */
export class VolumeReader {
  private cached?: { chunk: number; plain: Buffer };

  private constructor(private readonly fd: FileHandle, private readonly key: Buffer, readonly volumeId: Buffer, readonly header: VolumeHeader) {}

  static async open(path: string, secret: Buffer): Promise<VolumeReader> {
    const fd = await open(path, "r");
    try {
      const first = Buffer.alloc(CHUNK_SIZE);
      const { bytesRead } = await fd.read(first, 0, CHUNK_SIZE, 0);
      if (bytesRead < CHUNK_SIZE) throw new VolumeFormatError("too short to be a volume (less than one chunk)");
      const volumeId = Buffer.from(first.subarray(0, VOLUME_ID_BYTES));
      const key = volumeKey(secret, volumeId);
      const header = decodeHeader(openChunk(key, volumeId, 0, first.subarray(0, bytesRead)));
      return new VolumeReader(fd, key, volumeId, header);
    } catch (error) {
      await fd.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.fd.close();
  }

  private async chunk(c: number): Promise<Buffer> {
    if (this.cached?.chunk === c) return this.cached.plain;
    const length = CHUNK_SIZE;
    const sealed = Buffer.alloc(length);
    const { bytesRead } = await this.fd.read(sealed, 0, length, c * CHUNK_SIZE);
    if (bytesRead !== length) throw new VolumeFormatError(`chunk ${c} is truncated (${bytesRead} of ${length} bytes)`);
    const plain = openChunk(this.key, this.volumeId, c, sealed);
    this.cached = { chunk: c, plain };
    return plain;
  }

  /** Stream bytes [offset, offset + length), in pieces of at most one chunk. */
  async *range(offset: number, length: number): AsyncGenerator<Buffer> {
    if (offset + length > this.header.streamLength) throw new VolumeFormatError("a manifest entry points past the end of the volume");
    let at = offset;
    while (at < offset + length) {
      const c = chunkAt(at);
      const plain = await this.chunk(c);
      const from = at - streamStartOf(c);
      const n = Math.min(plain.length - from, offset + length - at);
      yield plain.subarray(from, from + n);
      at += n;
    }
  }

  async manifest(): Promise<Manifest> {
    const parts: Buffer[] = [];
    for await (const p of this.range(this.header.manifestOffset, this.header.manifestLength)) parts.push(Buffer.from(p));
    let manifest: Manifest;
    try {
      manifest = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch (cause) {
      throw new VolumeFormatError("the manifest is not JSON", cause);
    }
    if (manifest.version !== 1 || manifest.volumeId !== this.volumeId.toString("hex") || !Array.isArray(manifest.entries)) throw new VolumeFormatError("the manifest does not belong to this volume");
    return manifest;
  }
}

/** Where `entry` goes under `outDir`, refusing any path that would leave it. */
export function targetPath(outDir: string, entryPath: string): string {
  const root = resolve(outDir);
  const target = resolve(root, ...checkRelativePath(entryPath));
  if (!target.startsWith(root + sep)) throw new PathEscapeError(entryPath);
  return target;
}

/**
 * Restores `entries` (files and folders) from an open volume under `outDir`; every file is written to a
 * `.partial` beside its target and renamed only once its SHA-256 matches the manifest. An existing target is
 * refused unless `force`; a symlink on the way is refused (it could point outside the folder).
 */
export async function extractEntries(volume: VolumeReader, entries: ManifestEntry[], outDir: string, options: { force?: boolean; stripPrefix?: string } = {}): Promise<{ files: number; bytes: number }> {
  const root = resolve(outDir);
  let files = 0;
  let bytes = 0;
  // Folders first (empty ones included), then files in volume order so each chunk is decrypted once.
  const ordered = [...entries.filter((e) => e.type === "dir"), ...entries.filter((e) => e.type === "file").sort((a, b) => a.offset - b.offset)];
  for (const entry of ordered) {
    const rel = options.stripPrefix ? entry.path.slice(options.stripPrefix.length).replace(/^\/+/, "") : entry.path;
    if (rel === "") {
      if (entry.type === "dir") continue;
      throw new PathEscapeError(entry.path);
    }
    const target = targetPath(root, rel);
    await refuseSymlinksOnTheWay(root, target);
    if (entry.type === "dir") {
      await mkdir(target, { recursive: true });
      continue;
    }
    await mkdir(resolve(target, ".."), { recursive: true });
    await restoreFile(volume, entry, target, options);
    files += 1;
    bytes += entry.length;
  }
  return { files, bytes };
}

/** Writes one file entry to `target` (via `<target>.partial`, renamed once its SHA-256 matches the manifest). */
export async function restoreFile(volume: VolumeReader, entry: ManifestEntry, target: string, options: { force?: boolean } = {}): Promise<void> {
  const existing = await lstat(target).catch(() => undefined);
  if (existing && (!options.force || !existing.isFile())) throw new FilesError(`${target} already exists: pass --force to overwrite it`, { code: "output-exists" });
  const partial = `${target}.partial`;
  const fd = await open(partial, "w");
  const hash = createHash("sha256");
  try {
    let at = 0;
    for await (const piece of volume.range(entry.offset, entry.length)) {
      hash.update(piece);
      await fd.write(piece, 0, piece.length, at);
      at += piece.length;
    }
  } catch (error) {
    await fd.close();
    await rm(partial, { force: true });
    throw error;
  }
  await fd.close();
  if (hash.digest("hex") !== entry.sha256) {
    await rm(partial, { force: true });
    throw new FilesError(`${entry.path}: the restored bytes do not have the SHA-256 in the manifest`, { code: "hash-mismatch" });
  }
  await rename(partial, target);
  await utimes(target, new Date(entry.mtimeMs), new Date(entry.mtimeMs)).catch(() => undefined);
}

async function refuseSymlinksOnTheWay(root: string, target: string): Promise<void> {
  let at = root;
  for (const part of target.slice(root.length + 1).split(sep).slice(0, -1)) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (st?.isSymbolicLink()) throw new PathEscapeError(target.slice(root.length + 1));
  }
}
