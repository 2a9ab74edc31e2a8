/**
 * API documentation that works offline: Swagger UI at `/swagger` from the swagger-ui-dist package's
 * own files (served under `/swagger/assets/`), reading the OpenAPI document @elysiajs/swagger builds
 * at `/swagger/json`; and `GET /`, which points to both. @elysiajs/swagger's own page loads its
 * script from a CDN and is a static route, so this page is answered in onRequest, before routing.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Elysia, t } from "elysia";
import { SERVER_METADATA } from "../../inference/server-metadata.ts";

const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

/** swagger-ui-dist's folder, or undefined where it is not installed (the compiled binary). */
function swaggerUiDirectory(): string | undefined {
  try {
    const directory = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
    return existsSync(path.join(directory, "swagger-ui-bundle.js")) ? directory : undefined;
  } catch {
    return undefined;
  }
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>ModelMora API</title>
  <link rel="icon" type="image/png" href="/swagger/assets/favicon-32x32.png" />
  <link rel="stylesheet" href="/swagger/assets/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger/assets/swagger-ui-bundle.js"></script>
  <script>
    window.onload = () => { window.ui = SwaggerUIBundle({ url: "/swagger/json", dom_id: "#swagger-ui" }); };
  </script>
</body>
</html>
`;

export const RootLinks = t.Object({
  name: t.String(),
  version: t.String(),
  links: t.Object({ docs: t.String(), openapi: t.String(), health: t.String(), metrics: t.String(), models: t.String() }),
});

export function docsPlugin() {
  const directory = swaggerUiDirectory();
  return new Elysia({ name: "docs" })
    .onRequest(({ request }) => {
      if (request.method !== "GET") return;
      const pathname = new URL(request.url).pathname;
      if (pathname === "/swagger" || pathname === "/swagger/") {
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
    })
    .get(
      "/swagger/assets/:file",
      ({ params }) => {
        const type = ASSETS[params.file];
        if (!type || !directory) return new Response("not found", { status: 404 });
        return new Response(Bun.file(path.join(directory, params.file)), { headers: { "content-type": type, "cache-control": "public, max-age=86400" } });
      },
      { detail: { hide: true } },
    )
    .get(
      "/",
      () => ({
        name: SERVER_METADATA.name,
        version: SERVER_METADATA.version,
        links: { docs: "/swagger", openapi: "/swagger/json", health: "/health/ready", metrics: "/metrics", models: "/api/v1/models" },
      }),
      { response: RootLinks, detail: { summary: "Where to start: links to the API docs, the OpenAPI document, health and metrics", tags: ["meta"] } },
    );
}
