/**
 * Prints the failed tests of a `bun test --reporter=junit` report, each with its error, after the
 * run's own output. CI keeps only the tail of a long log, where bun's summary names a failed test
 * but not why it failed; this puts the why at the end.
 *
 * Usage: bun scripts/test-failures.ts <report.xml>
 */
export {};

const reportPath = process.argv[2];
if (!reportPath) {
  console.error("usage: bun scripts/test-failures.ts <report.xml>");
  process.exit(2);
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity.startsWith("#x") || entity.startsWith("#X")) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return ENTITIES[entity] ?? whole;
  });
}

function attribute(tag: string, name: string): string {
  return decodeXml(new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1] ?? "");
}

/** Longest error text printed per failure; a test that dumps a whole payload stays readable. */
const MAX_ERROR_CHARACTERS = 4_000;

const report = await Bun.file(reportPath).text().catch(() => undefined);
if (report === undefined) {
  console.log(`(no test report at ${reportPath}: the run stopped before bun wrote it)`);
  process.exit(0);
}
// A passing test case closes itself (`<testcase … />`); only the others have a body.
const testCases = report.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g);
let failures = 0;
for (const [, tag = "", body = ""] of testCases) {
  const failure = /<failure\b[^>]*>([\s\S]*?)<\/failure>/.exec(body);
  if (!failure) continue;
  failures++;
  const error = decodeXml(failure[1] ?? "").trim();
  console.log(`\n== failed: ${attribute(tag, "file")}:${attribute(tag, "line")} ${attribute(tag, "name")}`);
  console.log(error.length > MAX_ERROR_CHARACTERS ? `${error.slice(0, MAX_ERROR_CHARACTERS)}\n… (${error.length - MAX_ERROR_CHARACTERS} more characters)` : error);
}
console.log(`\n== ${failures} failed test(s) in ${reportPath}`);
