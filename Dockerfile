# Parley: a small production image. Node 24 comes from the base image, so the `node` npm package (a dev
# dependency that brings Node 24 to machines without it) is not installed here.
FROM node:24-slim

# tini (Debian's package) is PID 1: it forwards SIGTERM to node and reaps zombies. node runs directly under it,
# not under npm, so SIGTERM reaches Parley and its shutdown (transcripts posted within 5 s) runs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    DATA_DIR=/data

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY src ./src
COPY commands ./commands
COPY scripts ./scripts

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]

# With METRICS_PORT set, Docker probes /healthz (200 while connected to Discord); without it there is nothing to
# probe and the check passes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/bin/sh", "-c", "[ -z \"$METRICS_PORT\" ] || node -e \"fetch('http://127.0.0.1:' + process.env.METRICS_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))\""]

ENTRYPOINT ["/usr/bin/tini", "--"]
# The same as `npm start`. Register the slash commands with: docker run … parley node scripts/deploy-commands.ts
CMD ["node", "src/main.ts"]
