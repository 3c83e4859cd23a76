// Sums up vitest's JSON results (test-results/*.json) and the steps .ci/run saw fail (EVENTLANE_CI_FAILED_STEPS,
// comma-separated) into one closing line: "N passed, N failed, N skipped". Exits 1 when anything failed, when a
// result file is missing or unreadable, or when nothing passed: a CI that could not tell must not pass.
import { readdirSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
const problems = [];

let files = [];
try {
  files = readdirSync('test-results').filter((f) => f.endsWith('.json'));
} catch (error) {
  problems.push(`no test-results folder (${error.code ?? error.message})`);
}
if (files.length === 0) {
  problems.push('no test results found');
  failed++;
}
for (const file of files) {
  let r;
  try {
    r = JSON.parse(readFileSync(`test-results/${file}`, 'utf8'));
  } catch (error) {
    problems.push(`${file} is unreadable: ${error.message}`);
    failed++;
    continue;
  }
  const filePassed = r.numPassedTests ?? 0;
  let fileFailed = r.numFailedTests ?? 0;
  const fileSkipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A test file that failed to load or to finish its hooks has no failed test of its own: count it once.
  for (const suite of r.testResults ?? []) {
    const anyFailed = (suite.assertionResults ?? []).some((a) => a.status === 'failed');
    if (suite.status === 'failed' && !anyFailed) {
      fileFailed++;
      problems.push(`${suite.name}: ${String(suite.message ?? 'failed outside its tests').split('\n')[0]}`);
    }
  }
  // Unhandled errors (vitest reports success: false) fail the run even when every test passed.
  if (r.success === false && fileFailed === 0) {
    fileFailed++;
    problems.push(`${file}: the run reported errors outside the tests (unhandled errors)`);
  }
  passed += filePassed;
  failed += fileFailed;
  skipped += fileSkipped;
  console.log(`${file}: ${filePassed} passed, ${fileFailed} failed, ${fileSkipped} skipped`);
}
const steps = (process.env.EVENTLANE_CI_FAILED_STEPS ?? '').split(',').filter(Boolean);
for (const s of steps) problems.push(`step failed: ${s}`);
failed += steps.length;
if (failed === 0 && passed === 0) {
  problems.push('no test passed');
  failed++;
}
for (const p of problems) console.log(`! ${p}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
