/**
 * GetJobResult's typed answer: a job's stored answer (the REST result body, JSON) as the message the
 * matching unary RPC answers, so a gRPC client reads a job's tensors exactly as it reads Infer's:
 * tensor jobs → InferResponse (typed contents; FP16 raw), text-embedding jobs → EmbedResponse.
 */
import type { embeddingAnswer } from "../../../inference/jobs/execute-job.ts";
import type { JobRequest } from "../../../inference/jobs/job-types.ts";
import type { InferenceResponse } from "../../../inference/requests.ts";
import { decodeInputs } from "../../../inference/tensor-codec.ts";
import { toInferResponse } from "./infer-request.ts";

type EmbeddingAnswer = ReturnType<typeof embeddingAnswer>;

/** The JobResult message's `result` oneof for the stored `answer` of a job of `kind`. */
export function typedJobResult(kind: JobRequest["kind"] | string, answer: unknown) {
  switch (kind) {
    case "tensor": {
      const response = answer as InferenceResponse;
      // The stored JSON tensors back to typed arrays, checked against their own names, types and shapes.
      const outputs = decodeInputs(response.outputs, response.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })));
      return { infer_response: toInferResponse({ ...response, outputs }, false) };
    }
    case "embed": {
      const embedded = answer as EmbeddingAnswer;
      return {
        embed_response: {
          model_name: embedded.model_name,
          model_version: embedded.model_version,
          embeddings: embedded.embeddings.map((values) => ({ values })),
          dimensions: embedded.dimensions,
          tokens: embedded.usage.tokens,
        },
      };
    }
    default:
      // A kind of job without a typed message of its own.
      return { result_json: JSON.stringify(answer) };
  }
}
