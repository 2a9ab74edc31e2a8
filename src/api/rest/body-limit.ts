/**
 * Request body limit (`MODELMORA_MAX_BODY_MB`). Requests that declare a larger Content-Length get
 * 413 PAYLOAD_TOO_LARGE with the usual error body. Bun's own cap sits at twice the limit as a
 * backstop for chunked bodies that declare no length (Bun answers those with a bare 413).
 */
import { Elysia } from "elysia";
import { ModelMoraError } from "../../errors.ts";
import { errorResponse } from "./error-mapping.ts";

export function bunBodyCapBytes(maxBodyBytes: number): number {
  return maxBodyBytes * 2;
}

export function bodyLimitPlugin(maxBodyBytes: number) {
  return new Elysia({ name: "body-limit" }).onRequest(({ request }) => {
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > maxBodyBytes) {
      return errorResponse(
        new ModelMoraError("PAYLOAD_TOO_LARGE", `request body of ${declared} bytes exceeds the limit of ${maxBodyBytes} bytes (MODELMORA_MAX_BODY_MB)`, {
          limitBytes: maxBodyBytes,
        }),
      );
    }
  });
}
