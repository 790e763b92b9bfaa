# syntax=docker/dockerfile:1
#
# One image for the five services and the bootstrap; docker-compose.yml picks
# the entry point with `command`. TypeScript runs through tsx's loader
# (`node --import tsx services/<name>/src/main.ts`), as `npm start` runs it.

# --- package manifests only, so the dependency layer is rebuilt only when they change
FROM node:20-slim AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /out \
 && cp package.json package-lock.json /out/ \
 && find packages services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /out/ \;

# --- dependencies (a compiler in case a native module has no usable prebuilt binary, e.g. argon2)
FROM node:20-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=manifests /out/ ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

# --- runtime
FROM node:20-slim
# CA certificates for TLS to PostgreSQL, NATS and S3. No PostgreSQL client tools: the backup
# service reads and writes rows over the pg driver and never runs pg_dump.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps --chown=node:node /app ./
COPY --chown=node:node . .
ENV PATH=/app/node_modules/.bin:$PATH
USER node
EXPOSE 3000 3001 3002 3003 3004
# Overridden per service by docker-compose.yml.
CMD ["node", "--import", "tsx", "services/gateway/src/main.ts"]
