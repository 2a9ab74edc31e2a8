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

/** Name prefixes passed through: locale, onnxruntime, OpenMP/BLAS threading, CUDA and its libraries, Bun's own. */
const PASSED_PREFIXES = ["LC_", "ORT_", "ONNXRUNTIME_", "OMP_", "KMP_", "MKL_", "OPENBLAS_", "CUDA_", "CUDNN_", "NVIDIA_", "TF_ENABLE_", "BUN_"];

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
