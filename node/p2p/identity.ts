import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { mkdir, open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { CofferError } from "../errors.js";

export const IDENTITY_FILE = "peer-key";

/**
 * The node's persistent libp2p identity: an Ed25519 key in `<dataDir>/peer-key` (protobuf, mode 0600).
 * Created once with O_EXCL (never overwritten, never regenerated); a key file readable by others is refused.
 */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, IDENTITY_FILE);
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new CofferError(`peer key ${path} is accessible by other users (mode ${(info.mode & 0o777).toString(8)})`, {
        code: "key-permissions",
        details: `run: chmod 600 ${path}`,
      });
    }
    return privateKeyFromProtobuf(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = await generateKeyPair("Ed25519");
  const handle = await open(path, "wx", 0o600); // "wx": fail if it appeared meanwhile, never clobber a key
  try {
    await handle.writeFile(privateKeyToProtobuf(key));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return key;
}
