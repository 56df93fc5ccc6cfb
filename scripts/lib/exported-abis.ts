/** Contracts whose ABI the node needs, and the file/const each is exported as under node/chain/abi/. */
export const EXPORTED_ABIS = [
  { contractName: "CofferToken", constName: "cofferTokenAbi", file: "cofferToken.ts" },
  { contractName: "LessorRegistry", constName: "lessorRegistryAbi", file: "lessorRegistry.ts" },
] as const;
