/** The manifest stored encrypted at the end of each volume and kept in the user's LevelDB (docs/protocol.md §13.3). */
import { PathEscapeError } from "./errors.js";

export interface ManifestEntry {
  /** Relative, "/"-separated, as put (the top folder's or file's own name first). */
  path: string;
  type: "file" | "dir";
  size: number;
  mtimeMs: number;
  /** SHA-256 of the file's bytes, hex ("" for a folder). */
  sha256: string;
  /** Where the bytes are in the volume's plaintext stream (§13.2). */
  offset: number;
  length: number;
}

export interface Manifest {
  version: 1;
  volumeId: string;
  entries: ManifestEntry[];
}

/** Checks a manifest path before anything is written: relative, no `.`/`..`/empty parts, no NUL or backslash. */
export function checkRelativePath(path: string): string[] {
  const parts = path.split("/");
  if (path === "" || path.startsWith("/") || /[\0\\]/.test(path) || parts.some((p) => p === "" || p === "." || p === "..")) throw new PathEscapeError(path);
  return parts;
}

/** Entries equal to `selector` or below it (a folder); "" or "/" selects everything. */
export function selectEntries(entries: ManifestEntry[], selector: string): ManifestEntry[] {
  const s = selector.replace(/^\/+|\/+$/g, "");
  if (s === "") return entries;
  return entries.filter((e) => e.path === s || e.path.startsWith(`${s}/`));
}
