# syntax=docker/dockerfile:1
# haproxy-node-agent container image.
#
#   docker build -t haproxy-node-agent .
#   docker run --rm --read-only haproxy-node-agent run --help
#
# Three stages: `build` compiles TypeScript with the dev dependencies; `deps` installs the production
# dependencies only; the runtime stage is distroless (no shell, no package manager) and gets exactly
# dist/, package.json, the production node_modules and LICENSE (Apache-2.0 asks that it travel with
# the binaries). test/integration/image.test.ts parses this file and checks
# that list against what the build and `npm pack` produce, then runs that tree read-only as uid 65532.
#
# Node 20 everywhere: @kubernetes/client-node 1.4 is the newest client that loads on Node 20 (2.x needs
# Node 22). Change the three images together. Pin them by digest (image@sha256:…) in your own builds.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json LICENSE ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The runtime: distroless Node 20 on Debian 12. The node binary is /nodejs/bin/node; the :nonroot tag
# runs as uid/gid 65532 by default and we say so again with a numeric USER, so Kubernetes'
# runAsNonRoot can verify it without a passwd lookup.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
# OCI labels: `npm run release -- X.Y.Z` keeps the version in step with package.json and deploy/.
# Build with --build-arg REVISION=$(git rev-parse HEAD) to record the commit.
ARG REVISION=unknown
LABEL org.opencontainers.image.title="haproxy-node-agent" \
      org.opencontainers.image.description="HAProxy agent-check daemon that steers edge traffic to Kubernetes nodes from live cluster state" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs20-debian12:nonroot"
WORKDIR /app
ENV NODE_ENV=production
# package.json at run time: its "type": "module" tells Node that dist/*.js are ES modules (without
# it Node 20.19+ would guess from the syntax, older 20.x would fail).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist ./dist
COPY --from=build /app/LICENSE ./LICENSE
USER 65532:65532
# Agent-check TCP port (HAProxy agent-port) and the HTTP port (/healthz /readyz /metrics /status).
EXPOSE 9300/tcp 9290/tcp
# Writes nothing to disk (JSON logs go to stdout), so `--read-only` / readOnlyRootFilesystem works.
# The break-glass override file will be read from /run/haproxy-node-agent (mount it from the host).
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/main.js"]
CMD ["run"]
