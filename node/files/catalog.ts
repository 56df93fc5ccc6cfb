/**
 * The user's file catalog in its LevelDB (`user:volumes`): each volume's manifest and the deal that stores it.
 * A copy of what the volumes themselves hold encrypted, so `ls` needs no network and `recover` can rebuild it.
 */
import type { Hex } from "viem";
import type { ChainClient } from "../chain/client.js";
import type { Manifest } from "./manifest.js";

export interface CatalogVolume {
  volumeId: string;
  dealId: Hex;
  commD: Hex;
  /** Plaintext stream length and the volume's length in bytes (§13.2). */
  streamLength: number;
  physicalLength: number;
  manifest: Manifest;
  /** True when the volume was bought by `buyDeal(file)`: `get(dealId, out)` hands back its one file. */
  single?: boolean;
}

const KEY = "user:volumes";

export class FileCatalog {
  private volumes: Record<string, CatalogVolume> = {};

  constructor(private readonly chain: ChainClient) {}

  async load(): Promise<void> {
    this.volumes = (await this.chain.getState<Record<string, CatalogVolume>>(KEY)) ?? {};
  }

  list(): CatalogVolume[] {
    return Object.values(this.volumes);
  }

  byDeal(dealId: Hex): CatalogVolume | undefined {
    return this.list().find((v) => v.dealId.toLowerCase() === dealId.toLowerCase());
  }

  async put(volume: CatalogVolume): Promise<void> {
    this.volumes[volume.volumeId] = volume;
    await this.chain.putState(KEY, this.volumes);
  }

  async remove(volumeId: string): Promise<void> {
    delete this.volumes[volumeId];
    await this.chain.putState(KEY, this.volumes);
  }
}
