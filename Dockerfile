# Parley: a small production image. Node 24 comes from the base image, so the `node` npm package (a dev
# dependency that brings Node 24 to machines without it) is not installed here.
FROM node:24-slim

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

# Same commands as the README: `npm start` runs the bot; `npm run deploy-commands` registers the slash commands.
CMD ["npm", "start"]
