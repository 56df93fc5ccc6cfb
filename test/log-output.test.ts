/**
 * Log lines a person reads (node/cli/log-output.ts): on a terminal one readable line per event, an error as its
 * short message; JSON otherwise. Checked by writing through the real pino + pino-pretty stream into a file.
 */
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { BaseError } from "viem";
import { logFormatFor, prettyStream, shortError } from "../node/cli/log-output.js";

describe("log output: readable on a terminal, JSON elsewhere", function () {
  it("writes one line per event with time, level, role and message, and an error as its one-line short message", function () {
    const path = join(tmpdir(), `coffer-log-${process.pid}-${Date.now()}.txt`);
    const fd = openSync(path, "w");
    try {
      const logger = pino({ level: "info" }, prettyStream(fd)).child({ role: "lessor-0" });
      const cause = new BaseError("The contract function \"submitPoSt\" reverted.", { details: "a very long\nmulti-line\ndetail" });
      logger.warn({ err: cause, period: 3 }, "lessor step failed");
      logger.info("lessor: PoSt submitted");
    } finally {
      closeSync(fd);
    }
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    rmSync(path);
    assert.equal(lines.length, 2, `two events, two lines: ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\] WARN: lessor step failed: The contract function "submitPoSt" reverted\./);
    assert.match(lines[0]!, /"role":"lessor-0"/);
    assert.match(lines[0]!, /The contract function "submitPoSt" reverted\./);
    assert.doesNotMatch(lines[0]!, /multi-line|"level":|at .*\.ts:\d+/, "no stack, no details, no JSON");
    assert.match(lines[1]!, /INFO: lessor: PoSt submitted/);
  });

  it("chooses pretty for a terminal and JSON for a pipe or file, unless COFFER_LOG_FORMAT says which", function () {
    const saved = process.env.COFFER_LOG_FORMAT;
    try {
      delete process.env.COFFER_LOG_FORMAT;
      assert.equal(logFormatFor({ isTTY: true }), "pretty");
      assert.equal(logFormatFor({ isTTY: false }), "json");
      assert.equal(logFormatFor({}), "json");
      process.env.COFFER_LOG_FORMAT = "json";
      assert.equal(logFormatFor({ isTTY: true }), "json");
      process.env.COFFER_LOG_FORMAT = "pretty";
      assert.equal(logFormatFor({ isTTY: false }), "pretty");
    } finally {
      if (saved === undefined) delete process.env.COFFER_LOG_FORMAT;
      else process.env.COFFER_LOG_FORMAT = saved;
    }
  });

  it("shortens any error-like value to one line", function () {
    assert.equal(shortError({ shortMessage: "refused: MarketPeriodNotSeeded(3, 89)", message: "long\nstack" }), "refused: MarketPeriodNotSeeded(3, 89)");
    assert.equal(shortError({ message: "first\nsecond" }), "first");
    assert.equal(shortError("plain"), "plain");
  });
});
