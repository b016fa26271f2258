import { test, expect } from "@appwright/test";

test("adding an item updates the cart badge", async ({ device }) => {
  await device.getByText("Catalogue").tap();
  await device.getByText("Add to cart").first().tap();
  await expect(device.getByText("1 item")).toBeVisible();
});
