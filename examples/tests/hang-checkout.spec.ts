import { test, expect } from "@appwright/test";

// The stand-in runner hangs on every spec whose path contains "hang": the worker's
// --job-timeout kills it and the job ends timed_out.
test("checkout spinner never ends", async ({ device }) => {
  await expect(device.getByText("never-there")).toBeVisible({ timeout: 0 });
});
