/**
 * API documentation that works offline: Swagger UI at `/swagger` from the swagger-ui-dist package's
 * own files (served under `/swagger/assets/`, embedded in the binary like the other assets),
 * reading the OpenAPI document @elysiajs/swagger builds at `/swagger/json`; and `GET /`, which
 * points to both. @elysiajs/swagger's own page loads its
 * script from a CDN and is a static route, so this page is answered in onRequest, before routing.
 */
import { Elysia, t } from "elysia";
import { SERVER_METADATA } from "../../inference/server-metadata.ts";
import { EMBEDDED_ASSETS, assetPath } from "../../runtime/embedded-assets.ts";

/** File name under /swagger/assets/ → where it is (source tree or binary) and its content type. */
const ASSETS: Record<string, { path: string; type: string }> = {
  "swagger-ui.css": { path: assetPath(EMBEDDED_ASSETS.swaggerUiCss), type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": { path: assetPath(EMBEDDED_ASSETS.swaggerUiBundle), type: "text/javascript; charset=utf-8" },
  "swagger-ui-standalone-preset.js": { path: assetPath(EMBEDDED_ASSETS.swaggerUiPreset), type: "text/javascript; charset=utf-8" },
  "favicon-32x32.png": { path: assetPath(EMBEDDED_ASSETS.swaggerUiFavicon), type: "image/png" },
};

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
        const asset = Object.hasOwn(ASSETS, params.file) ? ASSETS[params.file] : undefined;
        if (!asset) return new Response("not found", { status: 404 });
        return new Response(Bun.file(asset.path), { headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" } });
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
