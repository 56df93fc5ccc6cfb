/**
 * `put`: packs files and folders into one encrypted volume (docs/protocol.md §13.2). Two passes over the inputs:
 * the first hashes every file (the manifest, hence the volume id and key, depend on all hashes), the second
 * encrypts chunk by chunk and checks each file still has the hash it had (a file changed in between is refused).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { FilesError } from "./errors.js";
import { checkRelativePath, type Manifest, type ManifestEntry } from "./manifest.js";
import { CAP, capacityOf, chunkAt, encodeHeader, HEADER_BYTES, physicalLengthOf, sealChunk, streamStartOf, volumeIdOf, volumeKey } from "./volume-format.js";

/** One upload is one volume; larger uploads are refused (split them) until files span volumes. */
export const MAX_VOLUME_BYTES = 4 * 1024 ** 3;

interface Scanned {
  abs: string;
  rel: string;
  type: "file" | "dir";
  size: number;
  mtimeMs: number;
}

/** Walks the inputs; symlinks and special files are skipped and reported (`onSkip`), never followed. */
export async function scanInputs(inputs: string[], onSkip: (path: string, why: string) => void): Promise<Scanned[]> {
  if (inputs.length === 0) throw new FilesError("nothing to put: give at least one file or folder", { code: "bad-request" });
  const out: Scanned[] = [];
  const tops = new Set<string>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    if (st.isSymbolicLink()) return onSkip(abs, "symbolic link (not followed)");
    // get refuses such names (they could address another path on some systems): refuse them here, not at get.
    if (/[\0\\]/.test(rel)) return onSkip(abs, "a backslash in the name (not portable), not stored");
    if (st.isDirectory()) {
      out.push({ abs, rel, type: "dir", size: 0, mtimeMs: Math.floor(st.mtimeMs) });
      for (const name of (await readdir(abs)).sort()) await walk(join(abs, name), `${rel}/${name}`);
    } else if (st.isFile()) {
      out.push({ abs, rel, type: "file", size: st.size, mtimeMs: Math.floor(st.mtimeMs) });
    } else {
      onSkip(abs, "not a regular file or folder");
    }
  };
  for (const input of inputs) {
    const abs = resolve(input);
    const st = await lstat(abs).catch(() => undefined);
    if (!st) throw new FilesError(`no such file or folder: ${input}`, { code: "not-found" });
    const name = basename(abs);
    if (tops.has(name)) throw new FilesError(`two inputs are named ${name}: put them from different folders in separate puts`, { code: "bad-request" });
    tops.add(name);
    checkRelativePath(name);
    await walk(abs, name);
  }
  return out;
}

/** Files up to this size are read in one call (a read stream per small file costs more than its bytes). */
const READ_WHOLE = 4 * 1024 * 1024;

async function* contentsOf(path: string, size: number): AsyncGenerator<Buffer> {
  if (size <= READ_WHOLE) {
    yield await readFile(path);
    return;
  }
  for await (const part of createReadStream(path, { highWaterMark: 1 << 20 })) yield part as Buffer;
}

async function hashFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  for await (const part of contentsOf(path, size)) hash.update(part);
  return hash.digest("hex");
}

/**
 * Offsets in the stream: a file that fits in one chunk never straddles two (so it is fetched with one chunk); a
 * larger one follows on directly (aligning it would save at most one chunk of a partial fetch and cost up to one
 * chunk of volume). Empty files and folders take no bytes.
 */
function layout(files: { size: number }[], start: number): { offsets: number[]; end: number } {
  let at = start;
  const offsets: number[] = [];
  for (const f of files) {
    if (f.size > 0) {
      const chunk = chunkAt(at);
      const room = streamStartOf(chunk) + capacityOf(chunk) - at;
      if (f.size > room && f.size <= CAP) at = streamStartOf(chunk + 1);
    }
    offsets.push(at);
    at += f.size;
  }
  return { offsets, end: at };
}

/** Seals the stream chunk by chunk as it is written, to `fd`. */
class ChunkSealer {
  private chunk = 0;
  private buffer = Buffer.alloc(capacityOf(0));
  private filled = 0;
  private position = 0;
  written = 0;

  constructor(private readonly fd: Awaited<ReturnType<typeof open>>, private readonly key: Buffer, private readonly volumeId: Buffer) {}

  get offset(): number {
    return streamStartOf(this.chunk) + this.filled;
  }

  async write(data: Buffer): Promise<void> {
    let from = 0;
    while (from < data.length) {
      const n = Math.min(data.length - from, this.buffer.length - this.filled);
      data.copy(this.buffer, this.filled, from, from + n);
      this.filled += n;
      from += n;
      if (this.filled === this.buffer.length) await this.flush();
    }
  }

  /** Zero bytes up to stream offset `offset` (alignment gaps). */
  async skipTo(offset: number): Promise<void> {
    while (this.offset < offset) await this.write(Buffer.alloc(Math.min(offset - this.offset, 1 << 20)));
  }

  /** Seals the current chunk; a last, partly filled one keeps its zero fill (every chunk is whole, §13.2). */
  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const sealed = sealChunk(this.key, this.volumeId, this.chunk, this.buffer);
    await this.fd.write(sealed, 0, sealed.length, this.position);
    this.position += sealed.length;
    this.written += this.filled;
    this.chunk += 1;
    this.buffer = Buffer.alloc(capacityOf(this.chunk));
    this.filled = 0;
  }
}

export interface PackedVolume {
  manifest: Manifest;
  /** Plaintext stream length (header + files + manifest). */
  streamLength: number;
  /** The volume file's length: what the deal stores before padding. */
  physicalLength: number;
  path: string;
  skipped: { path: string; why: string }[];
}

/** Packs `inputs` into `<dir>/<volumeId>.vol`, encrypted with a key derived from `secret`. */
export async function packVolume(inputs: string[], dir: string, secret: Buffer, options: { maxBytes?: number } = {}): Promise<PackedVolume> {
  const skipped: { path: string; why: string }[] = [];
  const scanned = await scanInputs(inputs, (path, why) => skipped.push({ path, why }));
  const files = scanned.filter((s) => s.type === "file");
  const hashes = new Map<string, string>();
  for (const f of files) hashes.set(f.abs, await hashFile(f.abs, f.size));
  const { offsets, end } = layout(files, HEADER_BYTES);
  const offsetOf = new Map(files.map((f, i) => [f.abs, offsets[i]!]));
  const entries: ManifestEntry[] = scanned.map((s) => ({
    path: s.rel,
    type: s.type,
    size: s.size,
    mtimeMs: s.mtimeMs,
    sha256: s.type === "file" ? hashes.get(s.abs)! : "",
    offset: s.type === "file" ? offsetOf.get(s.abs)! : 0,
    length: s.size,
  }));
  const digest = createHash("sha256").update(JSON.stringify(entries)).digest();
  const volumeId = volumeIdOf(secret, digest);
  const manifest: Manifest = { version: 1, volumeId: volumeId.toString("hex"), entries };
  const manifestBytes = Buffer.from(JSON.stringify(manifest), "utf8");
  const streamLength = end + manifestBytes.length;
  const physicalLength = physicalLengthOf(streamLength);
  const maxBytes = options.maxBytes ?? MAX_VOLUME_BYTES;
  if (physicalLength > maxBytes) {
    throw new FilesError(`the upload needs a ${physicalLength}-byte volume, over the ${maxBytes}-byte cap of one volume: put it in several parts`, { code: "volume-too-large" });
  }
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${manifest.volumeId}.vol`);
  const partial = `${path}.partial`;
  const fd = await open(partial, "w");
  try {
    const sealer = new ChunkSealer(fd, volumeKey(secret, volumeId), volumeId);
    await sealer.write(encodeHeader({ streamLength, manifestOffset: end, manifestLength: manifestBytes.length }));
    for (const f of files) {
      await sealer.skipTo(offsetOf.get(f.abs)!);
      const hash = createHash("sha256");
      let seen = 0;
      for await (const b of contentsOf(f.abs, f.size)) {
        seen += b.length;
        if (seen > f.size) break;
        hash.update(b);
        await sealer.write(b);
      }
      if (seen !== f.size || hash.digest("hex") !== hashes.get(f.abs)) {
        throw new FilesError(`${f.abs} changed while it was being packed: put again once it is no longer written to`, { code: "file-changed" });
      }
    }
    await sealer.skipTo(end);
    await sealer.write(manifestBytes);
    await sealer.flush();
    await fd.sync();
  } catch (error) {
    await fd.close();
    await rm(partial, { force: true });
    throw error;
  }
  await fd.close();
  await rename(partial, path);
  return { manifest, streamLength, physicalLength, path, skipped };
}

