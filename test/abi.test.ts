import assert from "node:assert/strict";
import { artifacts } from "hardhat";
import { cofferTokenAbi } from "../node/chain/abi/cofferToken.js";
import { downloadMarketAbi } from "../node/chain/abi/downloadMarket.js";
import { lessorRegistryAbi } from "../node/chain/abi/lessorRegistry.js";
import { marketVaultAbi } from "../node/chain/abi/marketVault.js";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { EXPORTED_ABIS } from "../scripts/lib/exported-abis.js";

const committed: Record<string, unknown> = { cofferTokenAbi, lessorRegistryAbi, marketVaultAbi, storageMarketAbi, downloadMarketAbi };

describe("node/chain/abi", () => {
  for (const { contractName, constName } of EXPORTED_ABIS) {
    it(`${constName} matches the compiled ${contractName} (else run: npx hardhat run scripts/export-abis.ts)`, async () => {
      const { abi } = await artifacts.readArtifact(contractName);
      assert.deepEqual(committed[constName], abi);
    });
  }
});
