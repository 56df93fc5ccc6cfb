/**
 * Runs `body` with unhandled promise rejections recorded into the array it receives instead of reaching
 * Mocha's own listener (which would fail the whole run rather than the test asserting on them).
 */
export async function recordingUnhandledRejections<T>(body: (recorded: unknown[]) => Promise<T>): Promise<T> {
  const recorded: unknown[] = [];
  const record = (reason: unknown) => void recorded.push(reason);
  const previous = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", record);
  try {
    return await body(recorded);
  } finally {
    process.removeListener("unhandledRejection", record);
    for (const listener of previous) process.on("unhandledRejection", listener);
  }
}
