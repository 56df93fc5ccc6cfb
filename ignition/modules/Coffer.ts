import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { keccak256, parseEther, toHex } from "viem";

/** `LessorRegistry.MARKET_ROLE()`: grant it to the market contract so it can lock/unlock/slash stake. */
export const MARKET_ROLE = keccak256(toHex("MARKET_ROLE"));

/** Defaults of the module's parameters (override per deployment with `parameters: { Coffer: {...} }`). */
export const COFFER_DEFAULTS = {
  /** Minimum bonded stake of a lessor: 1,000 CFR. */
  minStake: parseEther("1000"),
  /** Seconds between an unstake request and the withdrawal: 7 days. */
  unbondingDelay: 7n * 24n * 60n * 60n,
  /** Faucet off by default; deploy scripts turn it on for chain ids 31337/1337 only (the token refuses elsewhere). */
  faucetEnabled: false,
  /** Minted to the deployer at deploy: 100 million CFR. */
  initialSupply: parseEther("100000000"),
} as const;

/**
 * Coffer's base contracts: the CFR token and the lessor registry (admin = the deployer).
 *
 * A later module builds on it and wires the market in:
 *
 *   const { token, registry } = m.useModule(CofferModule);
 *   const market = m.contract("StorageMarket", [registry, ...]);
 *   m.call(registry, "grantRole", [MARKET_ROLE, market]);
 */
const CofferModule = buildModule("Coffer", (m) => {
  const deployer = m.getAccount(0);
  const minStake = m.getParameter("minStake", COFFER_DEFAULTS.minStake);
  const unbondingDelay = m.getParameter("unbondingDelay", COFFER_DEFAULTS.unbondingDelay);
  const faucetEnabled = m.getParameter("faucetEnabled", COFFER_DEFAULTS.faucetEnabled);
  const initialSupply = m.getParameter("initialSupply", COFFER_DEFAULTS.initialSupply);

  const token = m.contract("CofferToken", [deployer, initialSupply, faucetEnabled]);
  const registry = m.contract("LessorRegistry", [token, minStake, unbondingDelay, deployer]);
  return { token, registry };
});

export default CofferModule;
