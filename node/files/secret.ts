/**
 * The user's secrets, all derived from one BIP-39 phrase (docs/protocol.md §13.1): the files secret (HKDF of the
 * BIP-39 seed) that every volume key is derived from, and the chain key (BIP-44 m/44'/60'/0'/0/0, the address
 * any Ethereum wallet shows for the same phrase). Only the derived keys are kept on disk, never the phrase.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { bytesToHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { CHAIN_KEY_FILE } from "../chain/client.js";
import { FilesError } from "./errors.js";

export const FILES_SECRET_FILE = "files-secret";

export interface UserKeys {
  filesSecret: Buffer;
  chainKey: Hex;
  address: Hex;
}

/** A fresh 24-word phrase (256 bits of entropy). */
export function newPhrase(): string {
  return generateMnemonic(wordlist, 256);
}

export function keysFromPhrase(phrase: string): UserKeys {
  const normalized = phrase.trim().toLowerCase().split(/\s+/).join(" ");
  if (!validateMnemonic(normalized, wordlist)) throw new FilesError("not a valid BIP-39 phrase (English word list, 12–24 words, checksum): check every word", { code: "bad-phrase" });
  const seed = mnemonicToSeedSync(normalized);
  const filesSecret = Buffer.from(hkdfSync("sha256", seed, "coffer/files", "coffer/files-secret/1", 32));
  const account = mnemonicToAccount(normalized);
  const privateKey = account.getHdKey().privateKey;
  if (!privateKey) throw new FilesError("the phrase gave no chain key", { code: "bad-phrase" });
  return { filesSecret, chainKey: bytesToHex(privateKey), address: account.address };
}

/**
 * Writes the keys of `phrase` into a data dir. An existing chain key or files secret that differs is never
 * overwritten (it may hold funds or files): refused with code key-mismatch.
 */
export async function writeUserKeys(dataDir: string, keys: UserKeys): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const files: [string, string][] = [[CHAIN_KEY_FILE, `${keys.chainKey}\n`], [FILES_SECRET_FILE, `${keys.filesSecret.toString("hex")}\n`]];
  for (const [name, text] of files) {
    const existing = await readFile(join(dataDir, name), "utf8").catch(() => undefined);
    if (existing !== undefined && existing.trim().toLowerCase() !== text.trim().toLowerCase()) {
      throw new FilesError(`${join(dataDir, name)} already holds another key: recover into a new data dir (or move that one away first)`, { code: "key-mismatch" });
    }
  }
  for (const [name, text] of files) {
    await writeFile(join(dataDir, name), text, { mode: 0o600 });
    await chmod(join(dataDir, name), 0o600);
  }
}

/**
 * The data dir's files secret. A user data dir made before phrases existed (or by a library caller that never ran
 * `init`) gets a random one on first use: its files are encrypted all the same, but no phrase recovers them.
 */
export async function loadOrCreateFilesSecret(dataDir: string): Promise<{ secret: Buffer; created: boolean }> {
  const path = join(dataDir, FILES_SECRET_FILE);
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (text !== undefined) {
    if (!/^[0-9a-f]{64}$/i.test(text.trim())) throw new FilesError(`${path} does not hold a 32-byte hex secret`, { code: "no-secret" });
    return { secret: Buffer.from(text.trim(), "hex"), created: false };
  }
  const secret = randomBytes(32);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(path, `${secret.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return { secret, created: true };
}
