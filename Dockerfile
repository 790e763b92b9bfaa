# syntax=docker/dockerfile:1
#
# One image for the five services and the bootstrap; docker-compose.yml picks
# the entry point with `command`. The image runs the compiled JavaScript of
# `npm run build` (services/<name>/dist/main.js, dist/bootstrap.js) on Node.js 24
# LTS; `npm start` runs the TypeScript sources through tsx for development.

# --- package manifests only, so the dependency layers are rebuilt only when they change
FROM node:24-slim AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /out \
 && cp package.json package-lock.json /out/ \
 && find packages services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /out/ \;

# --- a compiler in case a native module has no usable prebuilt binary (argon2)
FROM node:24-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# --- compile: every dependency (esbuild, tsx), no install scripts (the image has its own Node.js)
FROM toolchain AS build
COPY --from=manifests /out/ ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# --- production dependencies only
FROM toolchain AS prod-deps
COPY --from=manifests /out/ ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

# --- runtime
FROM node:24-slim
# CA certificates for TLS to PostgreSQL, NATS and S3. No PostgreSQL client tools: the backup
# service reads and writes rows over the pg driver and never runs pg_dump.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=prod-deps --chown=node:node /app ./
COPY --chown=node:node . .
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/services/gateway/dist ./services/gateway/dist
COPY --from=build --chown=node:node /app/services/provisioner/dist ./services/provisioner/dist
COPY --from=build --chown=node:node /app/services/metering/dist ./services/metering/dist
COPY --from=build --chown=node:node /app/services/quota/dist ./services/quota/dist
COPY --from=build --chown=node:node /app/services/backup/dist ./services/backup/dist
COPY --from=build --chown=node:node /app/services/webhooks/dist ./services/webhooks/dist
COPY --from=build --chown=node:node /app/packages/cli/dist ./packages/cli/dist
# Containers listen on every interface (npm start on a laptop binds to 127.0.0.1).
ENV PATH=/app/node_modules/.bin:$PATH \
    HOST=0.0.0.0
USER node
EXPOSE 3000 3001 3002 3003 3004
# Overridden per service by docker-compose.yml.
CMD ["node", "--enable-source-maps", "services/gateway/dist/main.js"]
