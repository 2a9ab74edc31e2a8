/**
 * The body limit is exact for chunked bodies (no Content-Length): a real server process, a real
 * socket, bodies of exactly MODELMORA_MAX_BODY_MB bytes and one byte more. The first is served
 * (checked against the reference), the second is the JSON 413 PAYLOAD_TOO_LARGE, not Bun's bare 413.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { referenceAdd, writeFixtureModels } from "../fixtures/models.ts";
import { sendChunked } from "../support/raw-http.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";

const LIMIT_BYTES = 64 * 1024;

let directory: TemporaryDirectory;
let database: TestDatabase;
let server: ServerProcess;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { MODELMORA_MAX_BODY_MB: String(LIMIT_BYTES / (1024 * 1024)), MODELMORA_STANDBY_WORKERS: "0" } });
  const registered = await fetch(`${server.baseUrl}/api/v1/models`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "add", source: fixtures.add }) });
  expect(registered.status).toBe(201);
});

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

const A = [1, 2, 3, 4];
const B = [0.25, -2, 8, 0.5];

/** A valid inference body padded with spaces to exactly `bytes` bytes. */
function paddedBody(bytes: number): Uint8Array {
  const json = JSON.stringify({ inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: A }, { name: "b", shape: [1, 4], datatype: "FP32", data: B }] });
  return new TextEncoder().encode(json.padEnd(bytes, " "));
}

describe("chunked request bodies", () => {
  test("a chunked body of exactly the limit is served", async () => {
    const answer = await sendChunked(server.httpPort, "POST", "/api/v1/infer/add", paddedBody(LIMIT_BYTES), { "content-type": "application/json" }, 1000);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).outputs[0].data).toEqual(Array.from(referenceAdd(Float32Array.from(A), Float32Array.from(B))));
  });

  test("a chunked body one byte over the limit is the JSON 413 PAYLOAD_TOO_LARGE", async () => {
    for (const route of ["/api/v1/infer/add", "/v2/models/add/infer"]) {
      const answer = await sendChunked(server.httpPort, "POST", route, paddedBody(LIMIT_BYTES + 1), { "content-type": "application/json" }, 1000);
      expect(answer.status).toBe(413);
      expect(answer.headers["content-type"]).toContain("application/json");
      expect(JSON.parse(answer.body)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limitBytes: LIMIT_BYTES } });
    }
  });

  test("a chunked body far over the limit (3× it) is the JSON 413 too, read to its end so the answer is not lost to a reset", async () => {
    const answer = await sendChunked(server.httpPort, "POST", "/api/v1/infer/add", paddedBody(3 * LIMIT_BYTES), { "content-type": "application/json" });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).code).toBe("PAYLOAD_TOO_LARGE");
  });
});
