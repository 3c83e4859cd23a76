// Sums up vitest's JSON results (test-results/*.json) into one closing line: "N passed, N failed, N skipped".
import { readdirSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
const files = readdirSync('test-results').filter((f) => f.endsWith('.json'));
for (const file of files) {
  const r = JSON.parse(readFileSync(`test-results/${file}`, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  console.log(
    `${file}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`,
  );
}
if (files.length === 0) {
  console.log('no test results found');
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
