import { test, expect } from "@appwright/test";

test("search finds a product by name", async ({ device }) => {
  await device.getByText("Search").tap();
  await device.getByText("Search products").fill("headphones");
  await expect(device.getByText("Wireless headphones")).toBeVisible();
});
