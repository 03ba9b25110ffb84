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
    MY_SERVER_CONFIG=/etc/my-server/Proxyfile \
    MY_SERVER_HEALTHCHECK_URL=http://127.0.0.1:2019/health
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
USER node
VOLUME ["/data", "/etc/my-server"]
EXPOSE 80 443
STOPSIGNAL SIGTERM
# The admin API (default localhost:2019, i.e. 127.0.0.1:2019) answers GET /health with 200 "ok".
# A Proxyfile with another `admin` address sets MY_SERVER_HEALTHCHECK_URL to match; with
# `admin off`, run with --no-healthcheck. slim has no curl: Node's fetch does the request.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MY_SERVER_HEALTHCHECK_URL, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# --max-semi-space-size=8: see docs/design.md "Memory" (peak RSS under load about 30% lower).
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/src/main.js"]
CMD ["run"]
