/**
 * One error family (node/errors.ts): every layer's errors are CofferErrors with a code the CLI maps to an exit
 * code, a one-line shortMessage and a cause chain that walk() follows (as viem's BaseError).
 */
import assert from "node:assert/strict";
import { CofferError } from "../node/errors.js";
import { CofferChainError } from "../node/chain/errors.js";
import { MarketActionError } from "../node/chain/actions/market-call.js";
import { ProofError, TruncatedFileError } from "../node/proofs/errors.js";
import { NoProvidersError, ProtocolError } from "../node/p2p/errors.js";
import { UserRoleError } from "../node/roles/user.js";

describe("errors: one family", function () {
  it("every layer's error is a CofferError with its family's default code, unless the thrower names one", function () {
    assert.equal(new ProofError("x").code, "proof");
    assert.equal(new TruncatedFileError("/f", 10, 5).code, "proof");
    assert.equal(new CofferChainError("x").code, "chain");
    assert.equal(new UserRoleError("x").code, "refused");
    assert.equal(new NoProvidersError("0x12").code, "no-providers");
    assert.equal(new ProtocolError("bad frame", { code: "bad-message" }).code, "bad-message");
    assert.equal(new CofferError("x").code, "internal");
    for (const error of [new ProofError("x"), new CofferChainError("x"), new UserRoleError("x"), new NoProvidersError("0x12")]) {
      assert.ok(error instanceof CofferError, `${error.name} is a CofferError`);
    }
    assert.equal(MarketActionError.prototype instanceof CofferError, true, "market action errors too");
  });

  it("keeps shortMessage one line, details apart, and walks the cause chain", function () {
    const root = new Error("ECONNRESET");
    const middle = new CofferChainError("chain unreachable", { cause: root, details: "retrying with back-off" });
    const top = new UserRoleError("buy failed: the chain went away", { cause: middle });
    assert.equal(middle.shortMessage, "chain unreachable");
    assert.equal(middle.details, "retrying with back-off");
    assert.equal(middle.message, "chain unreachable\n\nDetails: retrying with back-off");
    assert.equal(top.walk((e) => e instanceof CofferChainError && e !== top), middle);
    assert.equal(top.walk((e) => e === root), root);
    assert.equal(top.walk(), root, "without a predicate: the deepest cause");
    assert.equal(top.walk((e) => e instanceof RangeError), null);
  });
});
