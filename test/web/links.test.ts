/**
 * Caption-link secrets and configuration: the secret is generated once into DATA_DIR (owner-only) and reused, a
 * configured one wins, and the caption page is off unless WEB_PORT is set.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, secretsOf } from '../../src/config.ts';
import { LinkSigner, SECRET_FILE, loadLinkSecret } from '../../src/web/links.ts';

const base = { ASSEMBLYAI_API_KEY: 'test-key-123456' };

describe('caption links', () => {
  it('generates the secret once in DATA_DIR, readable by the owner only, and reuses it after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-web-'));
    try {
      const first = loadLinkSecret(join(dir, 'data'), undefined);
      expect(first.length).toBe(32);
      expect((await stat(join(dir, 'data', SECRET_FILE))).mode & 0o777).toBe(0o600);
      const again = loadLinkSecret(join(dir, 'data'), undefined);
      expect(again.equals(first)).toBe(true);
      // A link signed before the restart still verifies after it.
      const token = new LinkSigner(first).sign({ guildId: '1', meetingId: 2, userId: '3', expiresAt: 4 });
      expect(new LinkSigner(again).verify(token)).toEqual({ guildId: '1', meetingId: 2, userId: '3', expiresAt: 4 });
      const configured = 'x'.repeat(40);
      expect(loadLinkSecret(join(dir, 'data'), configured).toString('utf8')).toBe(configured);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is off unless WEB_PORT is set; PUBLIC_URL defaults to localhost; a short secret is refused and a set one is scrubbed from logs', () => {
    expect(loadConfig(base).web).toBeUndefined();
    expect(loadConfig({ ...base, WEB_PORT: '8080' }).web).toEqual({ port: 8080, host: '0.0.0.0', publicUrl: 'http://localhost:8080', linkSecret: undefined });
    expect(loadConfig({ ...base, WEB_PORT: '8080', PUBLIC_URL: 'https://captions.example.org/' }).web?.publicUrl).toBe('https://captions.example.org');
    expect(() => loadConfig({ ...base, WEB_PORT: '8080', WEB_LINK_SECRET: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, WEB_PORT: '8080', WEB_LINK_SECRET: 'short' })).not.toThrow(/short/);
    const secret = 's'.repeat(32);
    expect(secretsOf(loadConfig({ ...base, WEB_PORT: '8080', WEB_LINK_SECRET: secret }))).toContain(secret);
  });
});
