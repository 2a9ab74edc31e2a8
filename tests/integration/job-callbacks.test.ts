/**
 * Job callbacks against a real HTTP receiver on 127.0.0.1: a finished job is POSTed with its status
 * and answer, signed with HMAC-SHA256 of the body (recomputed here), and retried after a failed
 * delivery; callback URLs are checked at submission (http(s) only, host under the source policy, a
 * secret configured).
 */
import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { waitFor } from "../support/wait.ts";

const SECRET = "test-callback-secret";
const ADD_BODY = {
  inputs: [
    { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
    { name: "b", shape: [1, 4], datatype: "FP32", data: [4, 3, 2, 1] },
  ],
};

async function core(environment: Record<string, string>): Promise<CoreFixture> {
  const fixture = await startCore(
    { sourceHosts: "127.0.0.1", sourceAllowPrivateNetworks: "true" },
    { environment: { MODELMORA_JOB_POLL_MILLISECONDS: "50", MODELMORA_JOB_RETRY_BASE_SECONDS: "0.05", ...environment } },
  );
  await fixture.core.models.register({ name: "add", version: "1", task: "tensor", source: fixture.fixtures.add });
  return fixture;
}

test("a finished job is POSTed to its callbackUrl, signed with the HMAC of the body, after a failed first delivery", async () => {
  const received: { body: string; signature: string | null }[] = [];
  using receiver = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      received.push({ body: await request.text(), signature: request.headers.get("x-modelmora-signature") });
      return new Response(null, { status: received.length === 1 ? 503 : 204 });
    },
  });
  await using fixture = await core({ MODELMORA_JOB_CALLBACK_SECRET: SECRET });
  const { app } = fixture.core;
  const accepted = await callApp(app, "POST", "/api/v1/infer/add/async", { ...ADD_BODY, callbackUrl: `http://127.0.0.1:${receiver.port}/hook` });
  expect(accepted.status).toBe(202);
  await waitFor(() => received.length >= 2 || undefined, "two deliveries", { timeoutMilliseconds: 20_000, intervalMilliseconds: 20 });
  const [first, second] = received;
  expect(second!.body).toBe(first!.body);
  const expected = `sha256=${createHmac("sha256", SECRET).update(second!.body).digest("hex")}`;
  expect(second!.signature).toBe(expected);
  const delivered = JSON.parse(second!.body);
  expect(delivered).toMatchObject({ jobId: accepted.body.jobId, status: "succeeded", model: "add" });
  expect(delivered.result).toEqual((await callApp(app, "POST", "/api/v1/infer/add", ADD_BODY)).body);
  expect(delivered.result.outputs[0].data).toEqual([5, 5, 5, 5]);
});

test("callback URLs are refused unless http(s), to a host the source policy allows, with a secret configured", async () => {
  {
    await using fixture = await core({ MODELMORA_JOB_CALLBACK_SECRET: SECRET });
    const submit = (callbackUrl: string) => callApp(fixture.core.app, "POST", "/api/v1/infer/add/async", { ...ADD_BODY, callbackUrl });
    expect(await submit("ftp://127.0.0.1/hook")).toMatchObject({ status: 400, body: { code: "INVALID_INPUT" } });
    expect(await submit("http://example.com/hook")).toMatchObject({ status: 403, body: { code: "FORBIDDEN" } });
    expect((await callApp(fixture.core.app, "GET", "/api/v1/jobs")).body.jobs).toEqual([]);
  }
  await using unsigned = await core({});
  expect(await callApp(unsigned.core.app, "POST", "/api/v1/infer/add/async", { ...ADD_BODY, callbackUrl: "http://127.0.0.1:9/hook" })).toMatchObject({ status: 400, body: { code: "INVALID_INPUT" } });
});
