import { test, expect } from "@appwright/test";

test("checkout with a saved card", async ({ device }) => {
  await device.getByText("Cart").tap();
  await device.getByText("Checkout").tap();
  await device.getByText("Pay with •••• 4242").tap();
  await expect(device.getByText("Order confirmed")).toBeVisible();
});
