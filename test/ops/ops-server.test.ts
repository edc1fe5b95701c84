import { afterEach, describe, expect, it } from 'vitest';
import { ParleyMetrics, type MetricsSource } from '../../src/ops/metrics.ts';
import { startOpsServer, type OpsServer } from '../../src/ops/server.ts';

describe('ops server', () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves /healthz and Prometheus /metrics from the live values', async () => {
    const live = { meetings: 2, speakers: 5, open: 3, reconnects: 1, corrupt: 7, dropped: 11, llm: 0, decoderFailures: 0 };
    const source: MetricsSource = {
      activeMeetings: () => live.meetings,
      speakers: () => live.speakers,
      sttSessionsOpen: () => live.open,
      sttReconnects: () => live.reconnects,
      corruptPackets: () => live.corrupt,
      droppedFrames: () => live.dropped,
      llmErrors: () => live.llm,
      decoderFailures: () => live.decoderFailures,
    };
    const metrics = new ParleyMetrics(source);
    let healthy = true;
    server = await startOpsServer({ port: 0, host: '127.0.0.1', metrics, health: () => ({ ok: healthy, meetings: live.meetings }) });
    const base = `http://127.0.0.1:${server.port}`;

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, meetings: 2 });

    metrics.captionLatency.observe(0.8);
    let text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^parley_active_meetings 2$/m);
    expect(text).toMatch(/^parley_speakers 5$/m);
    expect(text).toMatch(/^parley_stt_sessions_open 3$/m);
    expect(text).toMatch(/^parley_stt_reconnects_total 1$/m);
    expect(text).toMatch(/^parley_corrupt_opus_packets_total 7$/m);
    expect(text).toMatch(/^parley_dropped_pcm_frames_total 11$/m);
    expect(text).toMatch(/^parley_llm_errors_total 0$/m);
    expect(text).toMatch(/^parley_opus_decoder_failures_total 0$/m);
    expect(text).toMatch(/^parley_caption_latency_seconds_count 1$/m);
    expect(text).toMatch(/^parley_process_resident_memory_bytes \d+/m);

    Object.assign(live, { meetings: 0, reconnects: 4, llm: 2, decoderFailures: 1 });
    text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^parley_active_meetings 0$/m);
    expect(text).toMatch(/^parley_stt_reconnects_total 4$/m);
    expect(text).toMatch(/^parley_llm_errors_total 2$/m);
    expect(text).toMatch(/^parley_opus_decoder_failures_total 1$/m);

    healthy = false;
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
