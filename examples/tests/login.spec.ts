import { test, expect } from "@appwright/test";

test("user can log in", async ({ device }) => {
  await device.getByText("Email").fill("demo@example.com");
  await device.getByText("Password").fill("correct horse battery staple");
  await device.getByText("Log in").tap();
  await expect(device.getByText("Welcome back")).toBeVisible();
});
