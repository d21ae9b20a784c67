// What every browser test shares: one printed line per check, a hard stop
// so a hung page never holds CI, Debian's Chromium launched headless, and
// the closing "N passed, M failed" with the exit status that says which.
import { chromium } from 'playwright-core';

const results = [];

// One check: "ok  " or "FAIL", its name, and what was seen.
export function check(name, ok, detail = '') {
  results.push({ name, ok });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ' — ' + detail : ''}`);
}

// Past `ms`, print a failed check naming `what` and exit.
export function hardStop(what, ms) {
  return setTimeout(() => { console.log(`FAIL timeout: ${what} took over ${ms / 1000} s`); process.exit(2); }, ms);
}

// Chromium ($CHROMIUM, else Debian's), headless, asking nothing of the
// network beyond the server under test.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
  });
}

// Print the tally and exit: 0 when every check passed, 1 otherwise.
export function finish() {
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
