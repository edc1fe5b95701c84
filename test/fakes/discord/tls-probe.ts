/**
 * Child-process probe: connects to `wss://<argv[2]>?v=8` exactly as @discordjs/voice does (`new WebSocket(url)`,
 * no TLS options) and prints the first message as one JSON line, or `{"error": ...}`. The test starts it with
 * `NODE_EXTRA_CA_CERTS=standIn.caCertPath`, which Node reads only at process start.
 */
import { WebSocket } from 'ws';

const endpoint = process.argv[2];
if (!endpoint) {
  process.stdout.write(`${JSON.stringify({ error: 'usage: tls-probe.ts HOST:PORT' })}\n`);
  process.exit(2);
}
const socket = new WebSocket(`wss://${endpoint}?v=8`);
socket.on('message', (data) => {
  process.stdout.write(`${JSON.stringify({ message: JSON.parse(data.toString()) as unknown })}\n`);
  socket.close(1000);
});
socket.on('error', (error) => {
  process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
  process.exitCode = 1;
});
