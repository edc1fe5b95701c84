/**
 * Debian's Chromium (/usr/bin/chromium, installed by .ci/run when missing), driven by playwright-core, which
 * never downloads a browser.
 */
import { chromium, type Browser } from 'playwright-core';

/** Launches headless Chromium as root-safe and quiet (no sandbox, GPU, background networking or updates). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}
