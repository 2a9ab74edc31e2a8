/**
 * Companion files in the worker: read once, checked against the sha256 the registry pinned (a cached
 * copy that changed on disk is refused rather than used).
 */
export interface CompanionFile {
  path: string;
  sha256: string;
}

/** The bytes of companion file `name`, verified; throws when they do not match their sha256. */
export async function readCompanion(name: string, file: CompanionFile): Promise<Uint8Array> {
  const bytes = new Uint8Array(await Bun.file(file.path).arrayBuffer());
  const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  if (sha256 !== file.sha256) throw new Error(`companion file ${name} does not match its sha256 ${file.sha256} (the cached copy changed)`);
  return bytes;
}

/** One value per key, made once and shared; a failed make is forgotten so the next call retries. */
export function memoized<T>(make: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const made = new Map<string, Promise<T>>();
  return (key) => {
    let value = made.get(key);
    if (!value) {
      value = make(key);
      made.set(key, value);
      value.catch(() => made.delete(key));
    }
    return value;
  };
}
