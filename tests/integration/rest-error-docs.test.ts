/**
 * The OpenAPI document lists every error a REST route answers with. Each route is driven into the
 * errors it can produce (no key, the wrong scope, malformed fields, a body too large or not JSON,
 * unknown models and versions, a duplicate, a model that does not load, a model marked unhealthy),
 * against the real core; every answer's status must be among that operation's documented responses
 * in /swagger/json, which are derived from the one error table (src/inference/operation-errors.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { HTTP_STATUS } from "../../src/api/rest/error-mapping.ts";
import { OPERATION_ERRORS } from "../../src/inference/operation-errors.ts";
import { type AppAnswer, type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";

const ADMIN = { authorization: "Bearer admin-key" };
const INFER = { authorization: "Bearer infer-key" };

let fixture: CoreFixture;
let documented: Record<string, Record<string, { responses: Record<string, unknown> }>>;

beforeAll(async () => {
  fixture = await startCore({ maxBodyMb: "1", apiKeys: "admin-key:admin,infer-key:infer" });
  const { core, fixtures } = fixture;
  await core.models.register({ name: "add", version: "1", task: "tensor", source: fixtures.add });
  documented = (await callApp(core.app, "GET", "/swagger/json", undefined, ADMIN)).body.paths;
}, 60_000);

afterAll(async () => {
  await fixture?.[Symbol.asyncDispose]();
});

const ADD_BODY = {
  inputs: [
    { name: "a", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] },
    { name: "b", datatype: "FP32", shape: [1, 4], data: [1, 1, 1, 1] },
  ],
};
const TOO_LARGE = "x".repeat(1024 * 1024 + 1);

interface Scenario {
  what: string;
  body?: unknown;
  /** Sent over the route's key (infer or admin); `noKey` sends none. */
  headers?: Record<string, string>;
  noKey?: boolean;
  route?: string;
}

/** A route (as OpenAPI names it), how to call it, and the requests that make it fail. */
interface RouteCase {
  method: string;
  path: string;
  /** The concrete route for the default scenarios. */
  route: string;
  body?: unknown;
  scenarios: Scenario[];
}

const NO_KEY: Scenario = { what: "no key", noKey: true };
const WRONG_KEY: Scenario = { what: "a wrong key", headers: { authorization: "Bearer nope" } };
const WRONG_SCOPE: Scenario = { what: "the infer scope on an admin route", headers: INFER };
const NOT_JSON: Scenario = { what: "a body that is not JSON", body: "not json", headers: { "content-type": "text/plain" } };
const TOO_BIG: Scenario = { what: "a body over the limit", body: TOO_LARGE, headers: { "content-length": String(TOO_LARGE.length) } };
const MALFORMED: Scenario = { what: "a malformed body", body: { nonsense: true } };

const ROUTES: RouteCase[] = [
  {
    method: "post",
    path: "/api/v1/models",
    route: "/api/v1/models",
    body: { name: "broken", source: "placeholder" },
    scenarios: [NO_KEY, WRONG_KEY, WRONG_SCOPE, NOT_JSON, TOO_BIG, MALFORMED, { what: "a source that is not there", body: { name: "ghost", source: "/nowhere/model.onnx" } }],
  },
  { method: "get", path: "/api/v1/models/{name}", route: "/api/v1/models/nope", scenarios: [NO_KEY, WRONG_KEY, { what: "an unknown model" }] },
  {
    method: "put",
    path: "/api/v1/models/{name}",
    route: "/api/v1/models/add",
    body: { config: { maxBatchSize: 4 } },
    scenarios: [NO_KEY, WRONG_SCOPE, NOT_JSON, TOO_BIG, { what: "a bad config", body: { config: { maxBatchSize: -1 } } }, { what: "an unknown model", route: "/api/v1/models/nope" }],
  },
  { method: "delete", path: "/api/v1/models/{name}", route: "/api/v1/models/nope", scenarios: [NO_KEY, WRONG_SCOPE, { what: "an unknown model" }] },
  {
    method: "post",
    path: "/api/v1/models/{name}/versions/{version}",
    route: "/api/v1/models/add/versions/9",
    scenarios: [NO_KEY, WRONG_SCOPE, { what: "an unknown version" }, { what: "an unknown model", route: "/api/v1/models/nope/versions/1" }],
  },
  {
    method: "post",
    path: "/api/v1/models/{name}/load",
    route: "/api/v1/models/nope/load",
    scenarios: [NO_KEY, WRONG_SCOPE, { what: "an unknown model" }, { what: "an unknown version", route: "/api/v1/models/add/load?version=9" }],
  },
  { method: "post", path: "/api/v1/models/{name}/unload", route: "/api/v1/models/nope/unload", scenarios: [NO_KEY, WRONG_SCOPE, { what: "an unknown model" }] },
  {
    method: "post",
    path: "/api/v1/infer/{name}",
    route: "/api/v1/infer/add",
    body: ADD_BODY,
    scenarios: [
      NO_KEY,
      WRONG_KEY,
      NOT_JSON,
      TOO_BIG,
      { what: "a wrong shape", body: { inputs: [{ ...ADD_BODY.inputs[0], shape: [1, 5] }, ADD_BODY.inputs[1]] } },
      { what: "an unknown model", route: "/api/v1/infer/nope" },
      { what: "an unknown version", route: "/api/v1/infer/add?version=9" },
    ],
  },
  {
    method: "post",
    path: "/v2/models/{name}/infer",
    route: "/v2/models/add/infer",
    body: ADD_BODY,
    scenarios: [NO_KEY, TOO_BIG, { what: "invalid JSON", body: "{" }, { what: "an unknown model", route: "/v2/models/nope/infer" }],
  },
  {
    method: "post",
    path: "/v2/models/{name}/versions/{version}/infer",
    route: "/v2/models/add/versions/9/infer",
    body: ADD_BODY,
    scenarios: [NO_KEY, { what: "an unknown version" }, MALFORMED],
  },
  { method: "get", path: "/v2/models/{name}", route: "/v2/models/nope", scenarios: [NO_KEY, { what: "an unknown model" }] },
  { method: "get", path: "/v2/models/{name}/versions/{version}/ready", route: "/v2/models/add/versions/9/ready", scenarios: [NO_KEY, { what: "an unknown version" }] },
];

function call(route: RouteCase, scenario: Scenario): Promise<AppAnswer> {
  const key = route.path.startsWith("/v2/") || route.path.startsWith("/api/v1/infer") ? INFER : ADMIN;
  const headers = { ...(scenario.noKey ? {} : key), ...scenario.headers };
  return callApp(fixture.core.app, route.method.toUpperCase(), scenario.route ?? route.route, scenario.body ?? route.body, headers);
}

describe("documented REST errors", () => {
  for (const route of ROUTES) {
    test(`${route.method.toUpperCase()} ${route.path}: every error it answers is in its OpenAPI responses`, async () => {
      const responses = documented[route.path]?.[route.method]?.responses;
      expect(responses).toBeDefined();
      const undocumented: string[] = [];
      for (const scenario of route.scenarios) {
        const answer = await call(route, scenario);
        expect(answer.status).toBeGreaterThanOrEqual(400); // each scenario is an error
        if (!(String(answer.status) in responses!)) undocumented.push(`${scenario.what}: ${answer.status} ${answer.body?.code}`);
      }
      expect(undocumented).toEqual([]);
    });
  }

  test("every error route documents authentication, scope and internal errors, and no status outside the error table", () => {
    const errorStatuses = new Set(Object.values(HTTP_STATUS).map(String));
    for (const route of ROUTES) {
      const statuses = Object.keys(documented[route.path]![route.method]!.responses);
      for (const code of ["UNAUTHENTICATED", "FORBIDDEN", "INTERNAL"] as const) expect(statuses).toContain(String(HTTP_STATUS[code]));
      expect(statuses.filter((status) => Number(status) >= 400 && !errorStatuses.has(status))).toEqual([]);
    }
  });

  test("the infer routes document every status of the infer operation's codes, 413 and 422 included", () => {
    const wanted = [...new Set(OPERATION_ERRORS.infer.map((code) => String(HTTP_STATUS[code])))];
    for (const path of ["/api/v1/infer/{name}", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"]) {
      expect(Object.keys(documented[path]!.post!.responses)).toEqual(expect.arrayContaining([...wanted, "413", "422"]));
    }
  });
});
