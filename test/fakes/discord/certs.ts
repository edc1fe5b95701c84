/**
 * TLS material for the stand-in's voice gateway.
 *
 * @discordjs/voice always dials `wss://${endpoint}?v=8` (Networking.createWebSocket in
 * node_modules/@discordjs/voice/dist/index.js) with `new WebSocket(address)` and no TLS options, so the
 * certificate must be trusted through the process's default CA store:
 * - a bot in a child process: start it with `NODE_EXTRA_CA_CERTS=<caCertPath>` (read once at process start);
 * - in this process: {@link trustCertificateInProcess}, which uses `tls.setDefaultCACertificates()`
 *   (Node ≥ 22.19 / 24.5). `ws` connects with `tls.connect()` without a `ca` option, so it uses that store.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';

/** A self-signed certificate for 127.0.0.1, its key, and where its PEM was written. */
export interface StandInCertificate {
  /** PEM of the certificate (it is its own CA). */
  certPem: string;
  /** PEM of the private key (PKCS#8). */
  keyPem: string;
  /** Path of a file holding `certPem`, for `NODE_EXTRA_CA_CERTS`. */
  caCertPath: string;
  /** Deletes the temporary directory holding `caCertPath`. */
  remove(): Promise<void>;
}

/**
 * Generates a certificate valid for IP 127.0.0.1 and `localhost` (subjectAltName, as TLS hostname
 * checks require for IP addresses: RFC 6125 / Node's `tls.checkServerIdentity`) and writes it to a temp file.
 *
 * @param commonName the subject (and, self-signed, issuer) name. Two certificates trusted in one process need
 *   different names: OpenSSL finds an issuer by its name, so a second certificate named like the first is checked
 *   against the first one's key and fails as "self-signed certificate".
 */
export async function createStandInCertificate(commonName = '127.0.0.1'): Promise<StandInCertificate> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 7 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  const dir = await mkdtemp(join(tmpdir(), 'parley-discord-stand-in-'));
  const caCertPath = join(dir, 'voice-ca.pem');
  await writeFile(caCertPath, pems.cert);
  return {
    certPem: pems.cert,
    keyPem: pems.private,
    caCertPath,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Adds `certPem` to this process's default CA store so that TLS clients created without a `ca` option
 * (such as @discordjs/voice's `ws`) trust it. Returns a function that restores the previous store.
 *
 * Uses `tls.getCACertificates('default')` / `tls.setDefaultCACertificates()` (Node docs, "tls" module).
 * It affects every later TLS connection of this process (a vitest worker), which is why it is opt-in.
 */
export function trustCertificateInProcess(certPem: string): () => void {
  const previous = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...previous, certPem]);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    tls.setDefaultCACertificates(previous);
  };
}
