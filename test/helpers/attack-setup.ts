/** Shared set-up of the network attack scenarios: lessor keys, big random files, honest sealed replicas. */
import { createCipheriv, randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { toHex, type Hex } from "viem";
import { sealFile, type SealResult } from "../../node/proofs/seal.js";
import { sectorId } from "../../node/proofs/sectors.js";
import type { Harness } from "./p2p-harness.js";

export function newAccount(): PrivateKeyAccount {
  return privateKeyToAccount(generatePrivateKey());
}

/** A file of `size` random bytes written in 4 MiB blocks (AES-CTR keystream: fast, incompressible). */
export async function bigRandomFile(harness: Harness, size: number, name = "data.bin"): Promise<string> {
  const path = join(await harness.dir("coffer-attack-"), name);
  const cipher = createCipheriv("aes-128-ctr", randomBytes(16), randomBytes(16));
  const zeros = new Uint8Array(4 << 20);
  const out = await open(path, "w");
  try {
    for (let written = 0; written < size; written += zeros.length) {
      const block = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - written)));
      await out.write(block, 0, block.length, written);
    }
  } finally {
    await out.close();
  }
  return path;
}

export interface SealedReplica {
  dealId: Hex;
  replicaIndex: number;
  replicaId: Uint8Array;
  replicaPath: string;
  treePath: string;
  sealed: SealResult;
}

/**
 * Seals `dataPath` as `lessor`'s sector number `replicaIndex` holding it alone at offset 0 (its replicaId is the
 * sector id, §12.2), into the harness's temp space. `dealId` only labels the piece.
 */
export async function sealFor(harness: Harness, dataPath: string, lessor: Hex, dealId: Hex, replicaIndex: number, sealRounds: number): Promise<SealedReplica> {
  const dir = await harness.dir("coffer-replica-");
  const id = sectorId(lessor, replicaIndex);
  const replicaPath = join(dir, "replica.bin");
  const treePath = join(dir, "replica.tree");
  const sealed = await sealFile(dataPath, replicaPath, id, { sealRounds, treeCachePath: treePath });
  return { dealId, replicaIndex, replicaId: id, replicaPath, treePath, sealed };
}

export function randomDealId(): Hex {
  return toHex(randomBytes(32));
}
