/**
 * One running node per data dir: `coffer start` writes `<dataDir>/node.pid` (created exclusively) and removes it
 * when it stops. A second start on the same dir finds the file, sees the pid alive and refuses with that pid;
 * a file left by a killed node (pid gone) is taken over.
 */
import { readFileSync, unlinkSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { CofferError } from "../errors.js";

export const PID_FILE = "node.pid";

/** Another live process holds the data dir. */
export class DataDirLockedError extends CofferError {
  override name = "DataDirLockedError";
  constructor(readonly dataDir: string, readonly pid: number) {
    super(`a coffer node is already running on data dir ${dataDir} (pid ${pid}): stop it first (kill ${pid}) or give another --data-dir`, { code: "already-running" });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the data dir for this process; returns a release function (also run on process exit). */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, PID_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      const releaseSync = () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
      process.once("exit", releaseSync);
      return async () => {
        process.removeListener("exit", releaseSync);
        releaseSync();
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataDirLockedError(dataDir, pid);
    await rm(file, { force: true }); // left by a node that was killed: take it over
  }
  throw new CofferError(`cannot lock data dir ${dataDir} (${file} keeps coming back)`, { code: "already-running" });
}
