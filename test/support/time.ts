/**
 * One knob for every timing in the tests: `EVENTLANE_TEST_TIME_SCALE` (default 1) multiplies each timeout and
 * deadline, so the suite stays green on a slow or shared machine (CI may set 2–3) without editing tests.
 * Use it for how long a test may WAIT, never for how long something should take in the code under test.
 */
export const TIME_SCALE: number = (() => {
  const raw = process.env.EVENTLANE_TEST_TIME_SCALE;
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(
      `EVENTLANE_TEST_TIME_SCALE must be a positive number (e.g. 2 or 3), got ${JSON.stringify(raw)}.`,
    );
  }
  return n;
})();

/** `ms` scaled by `EVENTLANE_TEST_TIME_SCALE`, rounded to whole milliseconds. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
