import { ClassicLevel } from "classic-level";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

/** The node's LevelDB (`<dataDir>/index`): store index and overlay history live in separate sublevels. */
export type Database = ClassicLevel<string, string>;

export async function openDatabase(dataDir: string): Promise<Database> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = new ClassicLevel<string, string>(join(dataDir, "index"), { valueEncoding: "utf8" });
  await db.open();
  return db;
}
