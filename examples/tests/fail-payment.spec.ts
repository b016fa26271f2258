import { test, expect } from "@appwright/test";

// The stand-in runner (examples/fake-appwright) fails every spec whose path contains "fail".
test("declined card shows an error", async ({ device }) => {
  await device.getByText("Pay now").tap();
  await expect(device.getByText("Payment accepted")).toBeVisible();
});
