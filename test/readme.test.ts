/** The README's promises that code can check: the invite URL's permissions and the documented commands. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CAPTION_PERMISSIONS, OPTIONAL_PERMISSIONS, THREAD_PERMISSIONS, VOICE_PERMISSIONS } from '../src/bot/permissions.ts';
import { commands } from '../commands/index.ts';
import { ROWS } from '../bench/lib/report.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

describe('README', () => {
  it('invite URL asks for exactly the permissions Parley checks, plus the optional ones (channel status, nickname)', () => {
    const invite = /permissions=(\d+)/.exec(readme)?.[1];
    const needed = [...VOICE_PERMISSIONS, ...CAPTION_PERMISSIONS, ...THREAD_PERMISSIONS, ...OPTIONAL_PERMISSIONS].reduce((bits, p) => bits | p.flag, 0n);
    expect(BigInt(invite ?? '0')).toBe(needed);
  });

  it('documents every slash command and every npm script it tells people to run', () => {
    for (const command of commands) expect(readme).toContain(`/${command.data.name}`);
    for (const script of [...readme.matchAll(/npm run ([a-z-]+)/g)].map((m) => m[1] ?? '')) expect(pkg.scripts[script], script).toBeDefined();
  });

  it('gives every figure `npm run bench` prints a row of the Performance table, under its JSON key', () => {
    const start = readme.indexOf('\n## Performance\n');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const tableRows = section.split('\n').filter((line) => line.startsWith('| `'));
    const missing = ROWS.map((row) => row.key).filter((key) => !tableRows.some((line) => line.split('|')[1]?.includes(`\`${key}\``)));
    expect(missing).toEqual([]);
  });
});
