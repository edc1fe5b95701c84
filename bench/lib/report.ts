/**
 * The bench's targets and its printed table.
 */

/** A figure's target: a check on the figures, and how to say it. */
export interface Target {
  text: string;
  check: (figures: Readonly<Record<string, number>>) => boolean;
}

/** One row of the table. */
export interface Row {
  key: string;
  /** The part that produces the figure (headline rows), so a part that failed still shows its rows as n/a. */
  part?: string;
  /** Indented rows are supporting figures under a headline one. */
  sub?: boolean;
  unit?: string;
  target?: Target;
  note?: string;
}

const at = (figures: Readonly<Record<string, number>>, key: string) => figures[key] ?? Number.NaN;

/** The rows, in the order of the list. Headline keys are the exact keys. */
export const ROWS: Row[] = [
  { key: 'audio_path_x_realtime', part: 'audio-path', unit: '×', note: 'one core: decode + 50 ms framing + ws send, per second of packets' },
  { key: 'audio_path_vs_decode_ratio', part: 'audio-path', target: { text: '≥ 0.75', check: (f) => at(f, 'audio_path_vs_decode_ratio') >= 0.75 }, note: 'vs a bare decode with the same decoder (opus-decoder), same run' },
  { key: 'decode_x_realtime', sub: true, unit: '×', note: 'the baseline: bare decode at 16 kHz mono' },
  { key: 'audio_path_send_floor_ratio', sub: true, note: 'decode + naive framing + the same ws sends, no Parley logic' },
  { key: 'audio_path_vs_minimal_ratio', sub: true, note: 'Parley path ÷ that floor: cost of Parley’s own logic' },
  { key: 'speakers_per_core', part: 'live', note: 'at 50 % of one core; 12 speakers at real-time pacing' },
  { key: 'cpu_ms_per_speaker_second', sub: true, unit: 'ms' },
  { key: 'added_latency_ms_p50', part: 'live', unit: 'ms', note: 'the worse interval (see below)' },
  { key: 'added_latency_ms_p99', part: 'live', unit: 'ms', target: { text: '≤ 110 (50 ms floor + 60)', check: (f) => at(f, 'added_latency_ms_p99') <= 110 } },
  { key: 'added_latency_audio_ms_p50', sub: true, unit: 'ms', note: '(a) last packet of a phrase → its frame on the socket, session open' },
  { key: 'added_latency_audio_ms_p99', sub: true, unit: 'ms', target: { text: '≤ 110', check: (f) => at(f, 'added_latency_audio_ms_p99') <= 110 } },
  { key: 'added_latency_caption_ms_p50', sub: true, unit: 'ms', note: '(b) final Turn received → Discord REST request issued' },
  { key: 'added_latency_caption_ms_p99', sub: true, unit: 'ms', target: { text: '≤ 110', check: (f) => at(f, 'added_latency_caption_ms_p99') <= 110 } },
  { key: 'added_latency_audio_reopen_ms_p50', sub: true, unit: 'ms', note: '(a) for phrases whose last frame came while their session was reopening (handshake 300 ms)' },
  { key: 'added_latency_audio_reopen_ms_p99', sub: true, unit: 'ms' },
  { key: 'added_latency_audio_reopen_share', sub: true, note: 'share of phrases in that case' },
  { key: 'live_sessions_opened', sub: true, note: 'sessions opened in the live run: shipped idle close, 300 ms handshake, so utterances reopen' },
  { key: 'rss_mb_start', part: 'long-meeting', unit: 'MB', note: '3 h meeting, 10 speakers, before it starts' },
  {
    key: 'rss_mb_end',
    part: 'long-meeting',
    unit: 'MB',
    target: { text: 'flat from 1 h to 3 h', check: (f) => at(f, 'memory_flat') === 1 },
    note: 'heap +≤ transcript + 5 MB and RSS +≤ 32 MB from 1 h to 3 h; no leaked sessions/timers/listeners',
  },
  { key: 'rss_mb_1h', sub: true, unit: 'MB' },
  { key: 'heap_used_mb_start', sub: true, unit: 'MB', note: 'after a full GC' },
  { key: 'heap_used_mb_1h', sub: true, unit: 'MB' },
  { key: 'heap_used_mb_end', sub: true, unit: 'MB' },
  { key: 'open_sessions_end', sub: true, note: 'AssemblyAI sessions open at 3 h (default idle close)' },
  { key: 'pending_timers_end', sub: true, note: 'pipeline timers pending at 3 h (10 speakers)' },
  { key: 'pipeline_listeners_end', sub: true, note: 'listeners on the pipeline at 3 h' },
  {
    key: 'billed_over_speech_ratio',
    part: 'billing',
    target: { text: '≤ 1.3', check: (f) => at(f, 'billed_over_speech_ratio') <= 1.3 },
    note: 'worst of the three conversations, shipped policy (idle close 750 ms); billed upgrade → close, handshakes included; speech = packets’ duration',
  },
  { key: 'billed_over_speech_ratio_single', sub: true, target: { text: '≤ 1.3', check: (f) => at(f, 'billed_over_speech_ratio_single') <= 1.3 }, note: 'katiesteve as one speaker, 30 s call' },
  { key: 'billed_over_speech_ratio_dialogue', sub: true, target: { text: '≤ 1.3', check: (f) => at(f, 'billed_over_speech_ratio_dialogue') <= 1.3 }, note: 'katiesteve as Katie and Steve, 2 min' },
  { key: 'billed_over_speech_ratio_mix', sub: true, target: { text: '≤ 1.3', check: (f) => at(f, 'billed_over_speech_ratio_mix') <= 1.3 }, note: '10 speakers, 4 min' },
  { key: 'whole_call_over_speech_ratio_dialogue', sub: true, note: 'tutorial style: a session per speaker for the whole call' },
  { key: 'whole_call_over_speech_ratio_mix', sub: true, note: 'tutorial style, 10 speakers' },
  {
    key: 'sessions_per_minute_peak',
    part: 'billing',
    target: { text: '≤ 100 (ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE)', check: (f) => at(f, 'sessions_per_minute_peak') <= at(f, 'sessions_per_minute_budget') },
    note: 'new sessions in any 60 s window, worst conversation, one meeting (the budget is per account)',
  },
  { key: 'sessions_per_minute_single', sub: true, note: 'most in any 60 s window' },
  { key: 'sessions_per_minute_dialogue', sub: true },
  { key: 'sessions_per_minute_mix', sub: true },
  {
    key: 'reopen_delay_ms_p99',
    part: 'billing',
    unit: 'ms',
    target: { text: '< 1000', check: (f) => at(f, 'reopen_delay_ms_p99') < 1_000 },
    note: 'turn starts on a closed session → its Begin (handshake 300 ms here), three conversations',
  },
  { key: 'first_partial_delay_ms_p50_closed', part: 'billing', unit: 'ms', note: 'turn starts on a closed session → first partial caption' },
  { key: 'first_partial_delay_ms_p99_closed', sub: true, unit: 'ms' },
  { key: 'first_partial_delay_ms_p50_open', sub: true, unit: 'ms', note: 'the same on an open session' },
  { key: 'first_partial_delay_ms_p99_open', sub: true, unit: 'ms' },
  { key: 'first_final_delay_ms_p99_closed', sub: true, unit: 'ms', note: 'turn’s last packet → its final, turn began on a closed session' },
  { key: 'first_final_delay_ms_p99_open', sub: true, unit: 'ms', note: 'the same, on an open session' },
  { key: 'turns_on_closed_session_share', sub: true, note: 'share of turns that began on a closed session' },
  ...['idle_2000', 'idle_1000', 'idle_500', 'conversation_10000'].flatMap((name): Row[] => [
    { key: `billed_over_speech_ratio_${name}`, sub: true, note: `policy ${name}: worst conversation` },
    { key: `billed_over_speech_ratio_dialogue_${name}`, sub: true },
    { key: `sessions_per_minute_peak_${name}`, sub: true },
    { key: `first_partial_delay_ms_p50_open_${name}`, sub: true, unit: 'ms' },
    { key: `turns_on_closed_session_share_${name}`, sub: true },
  ]),
  { key: 'llm_requests_per_final_turn', part: 'translation', target: { text: '≤ 1', check: (f) => at(f, 'llm_requests_per_final_turn') <= 1 }, note: '3 target languages' },
  {
    key: 'llm_requests_per_minute_10_speakers',
    part: 'translation',
    target: { text: '≤ 30 per model', check: (f) => at(f, 'llm_requests_per_minute_10_speakers') <= 30 },
    note: 'most in any 60 s window; one model',
  },
  { key: 'llm_final_turns_per_minute_10_speakers', sub: true },
  { key: 'translation_delay_ms_p99', sub: true, unit: 'ms', note: 'final caption → its translations' },
  { key: 'translation_delay_ms_p50_batched', sub: true, unit: 'ms', note: 'TRANSLATION_MODE=batched (the rows above)' },
  { key: 'translation_delay_ms_p99_batched', sub: true, unit: 'ms' },
  { key: 'llm_requests_per_final_turn_in_stream', sub: true, note: 'TRANSLATION_MODE=in-stream: AssemblyAI’s server-side requests' },
  { key: 'llm_requests_per_minute_10_speakers_in_stream', sub: true, note: 'the same 10-speaker call; not coalesced or rate-limited by Parley' },
  { key: 'translation_delay_ms_p50_in_stream', sub: true, unit: 'ms', note: 'final caption → its translations, in-stream' },
  { key: 'translation_delay_ms_p99_in_stream', sub: true, unit: 'ms' },
  {
    key: 'max_concurrent_speakers_tested',
    part: 'speakers',
    target: { text: '≥ 60', check: (f) => at(f, 'max_concurrent_speakers_tested') >= 60 },
    note: 'largest run (60, 200) where every speaker decoded every packet and every byte reached the server',
  },
  { key: 'rss_kb_per_speaker', sub: true, unit: 'KB', note: 'full audio path, mid-speech, after GC; sessions opened before' },
  { key: 'heap_kb_per_speaker', sub: true, unit: 'KB', note: 'V8 heap share of it' },
  { key: 'decoder_rss_kb_per_speaker', sub: true, unit: 'KB', note: 'one opus-decoder (own WebAssembly instance)' },
  { key: 'speaker_cpu_ms_per_second', sub: true, unit: 'ms', note: 'CPU per second of one speaker’s speech, full path, 200 at once' },
  { key: 'speaker_core_percent', sub: true, unit: '%', note: 'the same as a share of one core' },
  { key: 'web_caption_latency_ms_p50', part: 'web', unit: 'ms', note: 'caption page: caption leaves the pipeline → drawn in Chromium, 10 speakers' },
  { key: 'web_caption_latency_ms_p99', part: 'web', unit: 'ms', target: { text: '< 100', check: (f) => at(f, 'web_caption_latency_ms_p99') < 100 } },
  { key: 'web_final_latency_ms_p99', sub: true, unit: 'ms', note: 'finals only' },
  { key: 'web_partial_latency_ms_p99', sub: true, unit: 'ms', note: 'partials only' },
  {
    key: 'replay_rss_mb_above_start',
    part: 'replay-memory',
    unit: 'MB',
    target: { text: 'flat, < 100 MB above start', check: (f) => at(f, 'replay_memory_ok') === 1 },
    note: 'npm run replay path, one 3-hour 48 kHz WAV track, most RSS after GC over the start; flat = heap after GC within 5 MB from 15 min',
  },
  { key: 'replay_rss_mb_start', sub: true, unit: 'MB', note: 'after a full GC, before the replay' },
  { key: 'replay_rss_mb_end', sub: true, unit: 'MB', note: 'after a full GC, at the end' },
  { key: 'replay_peak_rss_mb_above_start', sub: true, unit: 'MB', note: 'peak RSS of the process (maxRSS, no GC) over the start' },
  { key: 'replay_heap_drift_mb_15min_to_end', sub: true, unit: 'MB', target: { text: '≤ 5', check: (f) => at(f, 'replay_heap_drift_mb_15min_to_end') <= 5 }, note: 'heap used after GC, most change from the 15-min sample' },
  { key: 'replay_rss_drift_mb_15min_to_end', sub: true, unit: 'MB', note: 'RSS after GC, most change from the 15-min sample (rises in steps while heap stays flat)' },
  { key: 'replay_x_realtime', sub: true, unit: '×', note: 'track seconds per wall second (virtual clock, no pacing)' },
  {
    key: 'bot_speakers_per_core',
    part: 'bot-path',
    note: 'at 50 % of one core, the whole bot in its own process: DAVE + transport-encrypted UDP in, wss:// out; 15 speakers',
  },
  { key: 'bot_cpu_ms_per_speaker_second', sub: true, unit: 'ms', note: 'bot process CPU (process.cpuUsage) ÷ speaker-seconds, while all talk' },
  { key: 'decode_speakers_per_core', sub: true, note: 'decode-only limit: bare opus-decoder decode of the same packets' },
  { key: 'bot_path_vs_decode_ratio', sub: true, note: 'bot ÷ decode-only (1 = the bot costs no more than the decode)' },
  {
    key: 'bot_parley_own_share',
    sub: true,
    target: { text: '< 0.333', check: (f) => at(f, 'bot_parley_own_share') < 1 / 3 },
    note: 'share of the bot’s CPU in Parley’s own src/** (self time, node --cpu-prof, second run); bench/README.md',
  },
  { key: 'bot_share_libopus_decode', sub: true, note: 'share in libopus (opus-decoder WebAssembly)' },
  { key: 'bot_share_transport_decrypt', sub: true, note: 'share in RTP transport decryption (@discordjs/voice, node:crypto)' },
  { key: 'bot_share_dave_decrypt', sub: true, note: 'share in DAVE decryption (@snazzah/davey)' },
  { key: 'bot_share_ws_tls', sub: true, note: 'share in ws + TLS (frames to AssemblyAI, voice gateway)' },
  { key: 'bot_share_gc', sub: true, note: 'share in garbage collection' },
  {
    key: 'realtime_rss_drift_mb_15min_to_end',
    part: 'realtime-memory',
    unit: 'MB',
    target: { text: '≤ 10 (flat)', check: (f) => at(f, 'realtime_rss_drift_mb_15min_to_end') <= 10 },
    note: 'meeting at real-time pacing (system clock), 8 speakers, translation into 3 languages, recap at the end; RSS after GC, most change from the 15-min sample (a quarter of the run)',
  },
  { key: 'realtime_minutes', sub: true, note: 'length of that run (--realtime-minutes; the figures are judged for 60)' },
  { key: 'realtime_rss_mb_15min', sub: true, unit: 'MB', note: 'RSS after a full GC at the 15-min mark' },
  { key: 'realtime_rss_mb_end', sub: true, unit: 'MB', note: 'RSS after a full GC at the end, before /end' },
  { key: 'realtime_heap_used_mb_15min', sub: true, unit: 'MB' },
  { key: 'realtime_heap_used_mb_end', sub: true, unit: 'MB' },
  { key: 'realtime_heap_drift_mb_15min_to_end', sub: true, unit: 'MB', note: 'heap used after GC, most change from the 15-min sample' },
  { key: 'realtime_cpu_percent', sub: true, unit: '%', note: 'CPU of the bot process over the run, share of one core' },
];

function formatValue(value: number | null | undefined, unit: string | undefined): string {
  if (typeof value !== 'number' || Number.isNaN(value)) return 'n/a';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 3;
  const text = Number(value.toFixed(digits)).toString();
  return unit === undefined ? text : unit === '×' ? `${text}×` : `${text} ${unit}`;
}

/** The outcome of a row: PASS, FAIL, `info` (no target) or n/a (missing figure). */
export function verdict(row: Row, figures: Readonly<Record<string, number>>): 'PASS' | 'FAIL' | 'info' | 'n/a' {
  const value: unknown = figures[row.key];
  if (typeof value !== 'number' || Number.isNaN(value)) return 'n/a';
  if (row.target === undefined) return 'info';
  return row.target.check(figures) ? 'PASS' : 'FAIL';
}

/** The table as Markdown-compatible text: rows of the parts that ran (`parts`; default all). */
export function renderTable(figures: Readonly<Record<string, number>>, parts?: readonly string[]): string {
  const shown = (row: Row) => figures[row.key] !== undefined || (row.part !== undefined && (parts === undefined || parts.includes(row.part)));
  const rows = ROWS.filter(shown).map((row) => [
    row.sub === true ? `  ${row.key}` : row.key,
    formatValue(figures[row.key], row.unit),
    row.target?.text ?? '—',
    verdict(row, figures),
    row.note ?? '',
  ]);
  const header = ['figure', 'value', 'target', 'result', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
