import assert from "node:assert/strict";
import { importCycles, importGraph, LAYERS, layerOf, layerViolations } from "../scripts/check-imports.js";

/** The node's modules import in one direction only: no circle, no layer reaching up (scripts/check-imports.ts). */
describe("imports under node/: layers and circles", () => {
  const graph = importGraph();

  it("reads the node's modules and every one lies in a layer", () => {
    assert.ok(graph.size > 50, `only ${graph.size} modules read`);
    for (const path of graph.keys()) assert.ok(layerOf(path) >= 0, `${path} is in no layer of ${LAYERS.map((l) => l.name).join(" < ")}`);
  });

  it("has no import circle", () => {
    assert.deepEqual(importCycles(graph), []);
  });

  it("imports no layer from below it", () => {
    assert.deepEqual(layerViolations(graph), []);
  });

  it("the check finds a circle and an import reaching up", () => {
    const bad = new Map([
      ["node/proofs/a.ts", ["node/proofs/b.ts"]],
      ["node/proofs/b.ts", ["node/proofs/c.ts"]],
      ["node/proofs/c.ts", ["node/proofs/a.ts", "node/store/s.ts"]],
      ["node/store/s.ts", []],
    ]);
    assert.deepEqual(importCycles(bad), [["node/proofs/a.ts", "node/proofs/b.ts", "node/proofs/c.ts"]]);
    assert.deepEqual(layerViolations(bad), ["node/proofs/c.ts (proofs) imports node/store/s.ts (store), a layer above"]);
  });
});
