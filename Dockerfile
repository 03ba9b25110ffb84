# my-server container image: `docker build -t my-server .`, then see docs/deploy.md.
#
# The Node.js version is the `node` devDependency's in package.json, pinned to the exact image tag;
# test/integration/packaging.test.ts checks that they agree and replays this file's build and start
# steps, so change both together.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts in the lockfile are the `node` devDependency's (it
# would download a second Node.js; the image has one) and esbuild's (an optimisation; esbuild
# finds its platform binary without it).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/
COPY src src/
# Type-checks and compiles src/ to dist/src/; a type error fails the image build.
RUN node scripts/build.mjs tsc

FROM node:24.21.0-bookworm-slim
# OCI annotations (https://specs.opencontainers.org/image-spec/annotations/). VERSION is
# package.json's (the packaging test keeps them equal); CI may pass --build-arg VERSION=….
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="my-server" \
      org.opencontainers.image.description="Automatic-HTTPS reverse proxy with an embedded ACME client" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/my-server/my-server" \
      org.opencontainers.image.documentation="https://github.com/my-server/my-server/tree/main/docs" \
      org.opencontainers.image.base.name="docker.io/library/node:24.21.0-bookworm-slim"
# Lets the unprivileged `node` user bind ports 80 and 443: a file capability on the node binary
# holding CAP_NET_BIND_SERVICE only (Node keeps honouring NODE_OPTIONS, NODE_EXTRA_CA_CERTS etc.
# when that is its only capability). setcap itself is removed again.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/node \
 && apt-get purge -y --auto-remove libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    MY_SERVER_STORAGE=/data \
    MY_SERVER_CONFIG=/etc/my-server/Proxyfile
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: no TypeScript, esbuild or the `node` package in the image.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src/
# The application files stay root-owned (the server cannot rewrite its own code); only the
# storage volume belongs to the runtime user. The Proxyfile is mounted read-only.
RUN mkdir -p /data /etc/my-server \
 && chown node:node /data
# The default config: a welcome page on :80 (as Caddy's image). Mounting a folder at
# /etc/my-server replaces it; the page itself stays out of the volumes.
COPY docker/Proxyfile /etc/my-server/Proxyfile
COPY docker/index.html /usr/share/my-server/index.html
# `my-server` on PATH for `docker exec … my-server reload`.
COPY docker/my-server /usr/local/bin/my-server
USER node
VOLUME ["/data", "/etc/my-server"]
EXPOSE 80 443
STOPSIGNAL SIGTERM
# `my-server health` reads the Proxyfile in $MY_SERVER_CONFIG: it asks the admin API's /health
# wherever `admin` puts it, and with `admin off` probes every listener the Proxyfile opens
# (src/cli/health.ts). Its own timeout (4 s) is under --timeout, so it reports why it failed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/dist/src/main.js", "health"]
# --max-semi-space-size=8: see docs/design.md "Memory" (peak RSS under load about 30% lower).
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/src/main.js"]
CMD ["run"]
