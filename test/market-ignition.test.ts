import assert from "node:assert/strict";
import { getAddress } from "viem";
import { network } from "hardhat";
import MarketModule from "../ignition/modules/Market.js";
import { DEFAULT_MARKET_PARAMS } from "../ignition/market-defaults.js";
import { OPERATOR_ROLE, deployTokenAndRegistry } from "./helpers/market-fixture.js";

const { viem, ignition } = await network.create();

describe("Ignition: Market module", function () {
  it("deploys vault and markets on a registry with the default parameters and operator roles", async function () {
    const { token, registry } = await deployTokenAndRegistry(viem);
    const { vault, market, downloads } = await ignition.deploy(MarketModule, { parameters: { Market: { registry: registry.address } } });
    assert.equal(getAddress(await vault.read.token()), getAddress(token.address));
    assert.equal(getAddress(await market.read.vault()), getAddress(vault.address));
    assert.equal(getAddress(await market.read.registry()), getAddress(registry.address));
    const params = await market.read.params();
    assert.equal(params.periodLength, DEFAULT_MARKET_PARAMS.periodLength);
    assert.equal(params.kPoSt, DEFAULT_MARKET_PARAMS.kPoSt);
    assert.equal(await vault.read.hasRole([OPERATOR_ROLE, market.address]), true);
    assert.equal(await vault.read.hasRole([OPERATOR_ROLE, downloads.address]), true);
  });
});
