import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** Every file and folder under `dir`, with the bytes of each file (a `diff -r`). */
export async function treeOf(dir: string, rel = ""): Promise<Map<string, Buffer | "dir">> {
  const out = new Map<string, Buffer | "dir">();
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = await stat(join(dir, path));
    if (st.isDirectory()) {
      out.set(path, "dir");
      for (const [k, v] of await treeOf(dir, path)) out.set(k, v);
    } else out.set(path, await readFile(join(dir, path)));
  }
  return out;
}
