/**
 * `node test/voice/dave-table.ts` — the README's DAVE table: every scenario of dave-scenario.ts run with the stock
 * @discordjs/voice 0.19.2 and with Parley, each in its own child process (a scenario that kills the stock
 * library's process is reported as such), printed as Markdown. About 3 minutes; one scenario at a time.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SCENARIOS, type Scenario, type ScenarioResult } from './support/dave-scenario.ts';

const SCRIPT = fileURLToPath(new URL('./support/dave-scenario.ts', import.meta.url));

/** What each scenario does, as the README shows it. */
const TITLES: Record<Scenario, string> = {
  steady: 'steady epoch',
  'member-joins': 'a member joins mid-speech (a member’s commit wins)',
  'member-leaves': 'a member leaves mid-speech',
  'bot-commit-wins': 'a member joins; the bot’s commit wins',
  'group-recreated': 'the bot left alone (group reset), then a member returns and talks',
  'late-join': 'the bot joins while someone speaks',
  'lose-commit': 'the commit meant for the bot is lost',
  'corrupt-commit': 'a corrupted commit',
  'lose-welcome': 'the bot’s welcome is lost',
  'corrupt-welcome': 'a corrupted welcome',
  'transition-id-zero': 'transition id 0, then a lost commit',
  'lose-execute': 'a lost execute-transition, then a lost commit, then a member change',
  'stale-proposals': 'proposals for an epoch the bot lacks',
  'unencrypted-frames': '1 frame in 20 sent unencrypted',
  'welcome-lost-thrice': 'the bot’s welcome lost three times (12 s of speech)',
  'welcome-never-arrives': 'every welcome to the bot lost (12 s of speech)',
};

type Outcome = ScenarioResult | { died: string };

function run(kind: 'stock' | 'parley', scenario: Scenario): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, kind, scenario], { timeout: 60_000 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (!error && line.startsWith('{')) return resolve(JSON.parse(line) as ScenarioResult);
      const cause = /^(?:Error|TypeError): (.*)$/m.exec(stderr)?.[1] ?? `exit ${error?.code ?? '?'}`;
      resolve({ died: cause.slice(0, 90) });
    });
  });
}

function cell(outcome: Outcome): string {
  if ('died' in outcome) return `**process dies** (${outcome.died})`;
  const lost = outcome.sent - outcome.delivered;
  const parts = [`${lost} lost`];
  if (outcome.garbage > 0) parts.push(`${outcome.garbage} encrypted frames handed on as Opus`);
  if (lost > 0) parts.push(`longest gap ${outcome.longestGapMs} ms`);
  if (!outcome.recovered) parts.push('**not recovered**');
  return parts.join('; ');
}

const only = process.argv.slice(2);
const rows: string[] = [
  '| What happens in the call | Stock @discordjs/voice 0.19.2 | Parley | Parley’s steps |',
  '|---|---|---|---|',
];
for (const scenario of SCENARIOS) {
  if (only.length > 0 && !only.includes(scenario)) continue;
  const stock = await run('stock', scenario);
  const parley = await run('parley', scenario);
  const steps = 'died' in parley ? '' : [...new Set(parley.steps)].join(', ');
  const sent = 'died' in parley ? '' : ` (of ${parley.sent})`;
  rows.push(`| ${TITLES[scenario]} | ${cell(stock)} | ${cell(parley)}${sent} | ${steps || '—'} |`);
  process.stderr.write(`${scenario} done\n`);
}
process.stdout.write(`${rows.join('\n')}\n`);
