/** Contracts whose ABI the node needs, and the file/const each is exported as under node/chain/abi/. */
export const EXPORTED_ABIS = [
  { contractName: "CofferToken", constName: "cofferTokenAbi", file: "cofferToken.ts" },
  { contractName: "LessorRegistry", constName: "lessorRegistryAbi", file: "lessorRegistry.ts" },
  { contractName: "MarketVault", constName: "marketVaultAbi", file: "marketVault.ts" },
  { contractName: "StorageMarket", constName: "storageMarketAbi", file: "storageMarket.ts" },
  { contractName: "DownloadMarket", constName: "downloadMarketAbi", file: "downloadMarket.ts" },
] as const;
