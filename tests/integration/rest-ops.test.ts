/**
 * REST details an operator or a first-time user meets, in process over the real core: the docs
 * (Swagger UI from local assets, `GET /` pointing to them, infer's 200 schema and `version` query
 * in the OpenAPI document), register defaults and every missing field in one answer, 415 for a body
 * that is not JSON, and CORS from MODELMORA_CORS_ORIGINS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";

let fixture: CoreFixture;

beforeAll(async () => {
  fixture = await startCore({ corsOrigins: "https://app.example, https://other.example" });
});

afterAll(async () => {
  await fixture?.[Symbol.asyncDispose]();
});

describe("docs", () => {
  test("/swagger is Swagger UI loading only local assets, which are served; GET / links to it", async () => {
    const page = await callApp(fixture.core.app, "GET", "/swagger");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const sources = [...String(page.body).matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(sources.length).toBeGreaterThanOrEqual(3);
    for (const source of sources) {
      expect(source).toStartWith("/swagger/assets/");
      const asset = await fixture.core.app.handle(new Request(`http://localhost${source}`));
      expect(asset.status).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    expect(String(page.body)).toContain('url: "/swagger/json"');
    expect((await callApp(fixture.core.app, "GET", "/swagger/assets/package.json")).status).toBe(404);

    const root = await callApp(fixture.core.app, "GET", "/");
    expect(root.status).toBe(200);
    expect(root.body).toMatchObject({ name: "modelmora", links: { docs: "/swagger", openapi: "/swagger/json", metrics: "/metrics" } });
  });

  test("the OpenAPI document gives infer a 200 schema and the version query", async () => {
    const document = (await callApp(fixture.core.app, "GET", "/swagger/json")).body;
    const infer = document.paths["/api/v1/infer/{name}"].post;
    expect(infer.parameters.map((parameter: { name: string; in: string }) => `${parameter.in}:${parameter.name}`)).toContain("query:version");
    const ok = infer.responses["200"].content["application/json"].schema;
    // A tensor answer, or (txt2embed models) an embeddings answer, or (image tasks) an image answer.
    const answers: { properties?: Record<string, unknown> }[] = ok.anyOf ?? [ok];
    expect(answers.map((answer) => Object.keys(answer.properties ?? {}))).toContainEqual(expect.arrayContaining(["model_name", "model_version", "outputs"]));
    expect(answers.map((answer) => Object.keys(answer.properties ?? {}))).toContainEqual(expect.arrayContaining(["embeddings", "dimensions", "usage"]));
    expect(answers.map((answer) => Object.keys(answer.properties ?? {}))).toContainEqual(expect.arrayContaining(["text", "lines", "embedding", "labels", "results"]));
    expect(document.paths["/v2/models/{name}/ready"].get.responses["404"]).toBeDefined();
  });
});

describe("register and content types", () => {
  test("register defaults version to \"1\" and task to \"tensor\", as the CLI does", async () => {
    const answer = await callApp(fixture.core.app, "POST", "/api/v1/models", { name: "defaults", source: fixture.fixtures.add });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ name: "defaults", task: "tensor", activeVersion: "1" });
  });

  test("every missing field is named in one answer", async () => {
    const answer = await callApp(fixture.core.app, "POST", "/api/v1/models", { config: {} });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe("INVALID_INPUT");
    expect(answer.body.details.fields).toEqual(["name", "source"]);
    expect(answer.body.error).toContain("name: Property 'name' is missing");
    expect(answer.body.error).toContain("source: Property 'source' is missing");
  });

  test("a JSON body sent as text/plain or without content-type is 415 naming what was sent", async () => {
    const body = JSON.stringify({ inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] });
    const plain = await callApp(fixture.core.app, "POST", "/api/v1/infer/defaults", undefined, {});
    expect(plain.status).not.toBe(415);
    const asText = await fixture.core.app.handle(new Request("http://localhost/api/v1/infer/defaults", { method: "POST", headers: { "content-type": "text/plain" }, body }));
    expect(asText.status).toBe(415);
    expect(await asText.json()).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE", error: 'content-type "text/plain" is not supported here: send the body as application/json' });
    const bare = await fixture.core.app.handle(new Request("http://localhost/api/v1/models", { method: "POST", body: new Blob([JSON.stringify({ name: "x", source: "/x" })]) }));
    expect({ status: bare.status, body: await bare.clone().text() }).toMatchObject({ status: 415 });
    expect(((await bare.json()) as { error: string }).error).toStartWith("a body without content-type is not supported here");
  });
});

describe("CORS", () => {
  test("origins named by MODELMORA_CORS_ORIGINS get CORS headers and preflight answers; others do not", async () => {
    const preflight = await fixture.core.app.handle(
      new Request("http://localhost/api/v1/infer/defaults", {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      }),
    );
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");

    const allowed = await fixture.core.app.handle(new Request("http://localhost/api/v1/models", { headers: { origin: "https://other.example" } }));
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://other.example");
    expect(allowed.headers.get("access-control-expose-headers")).toContain("x-request-id");
    const refused = await fixture.core.app.handle(new Request("http://localhost/api/v1/models", { headers: { origin: "https://evil.example" } }));
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });
});
