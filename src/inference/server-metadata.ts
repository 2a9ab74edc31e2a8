/** What the server says about itself (KServe v2 `GET /v2`, gRPC ServerMetadata). */
import packageJson from "../../package.json" with { type: "json" };

export interface ServerMetadata {
  name: string;
  version: string;
  /** KServe v2 protocol extensions this server implements. */
  extensions: string[];
}

export const SERVER_METADATA: ServerMetadata = {
  name: "modelmora",
  version: packageJson.version,
  extensions: ["binary_tensor_data", "parameters"],
};
