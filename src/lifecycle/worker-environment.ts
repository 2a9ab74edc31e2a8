/**
 * The environment a model worker starts with: only what Bun, onnxruntime and its execution
 * providers read, never the server's secrets (DATABASE_URL, HF_TOKEN, MODELMORA_API_KEYS, cloud
 * credentials). A worker runs third-party model graphs; it gets nothing it does not need.
 *
 * @example
 * workerEnvironment({ PATH: "/usr/bin", HF_TOKEN: "hf_…", OMP_NUM_THREADS: "2" })
 * // { PATH: "/usr/bin", OMP_NUM_THREADS: "2" }
 */

/** Exact names passed through: process basics, locale, time zone, temporary directory. */
const PASSED_NAMES = new Set(["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "LD_LIBRARY_PATH", "MODELMORA_LOG_LEVEL", "NO_COLOR", "FORCE_COLOR"]);

/** Name prefixes passed through: locale, onnxruntime, OpenMP/BLAS threading, CUDA and its libraries, Bun's own and its allocator's (mimalloc). */
const PASSED_PREFIXES = ["LC_", "ORT_", "ONNXRUNTIME_", "OMP_", "KMP_", "MKL_", "OPENBLAS_", "CUDA_", "CUDNN_", "NVIDIA_", "TF_ENABLE_", "BUN_", "MIMALLOC_"];

/**
 * Allocator settings a worker starts with unless the server's environment sets them.
 * MIMALLOC_PURGE_DELAY=-1: Bun's allocator keeps freed memory for reuse instead of handing it back
 * to the OS. onnxruntime-node copies every output into a fresh ArrayBuffer; a decoding step's
 * outputs (the whole KV cache, megabytes at 8 sequences) were faulted in page by page at every
 * step — measured on the bench decoder at 8 rows: ~900 minor page faults and ~25 ms CPU per step,
 * against ~60 faults and ~9 ms with freed memory reused. The cost: a worker's resident memory stays
 * at its high-water mark (freed memory is reused by the worker, not returned).
 */
export const WORKER_ALLOCATOR_DEFAULTS: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "-1" };

/** Secrets that never pass, even under a passed prefix (BUN_AUTH_TOKEN for a private registry). */
const NEVER = /TOKEN|SECRET|PASSWORD|KEY|CREDENTIAL/i;

export function workerEnvironment(environment: Record<string, string | undefined>): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    if (value === undefined || NEVER.test(name)) continue;
    if (PASSED_NAMES.has(name) || PASSED_PREFIXES.some((prefix) => name.startsWith(prefix))) passed[name] = value;
  }
  return passed;
}
