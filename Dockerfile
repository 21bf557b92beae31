# One image for every Bulwark component; the component is the argument:
#   docker run IMAGE ca   ·   docker run IMAGE gateway   (Kubernetes: `args: [gateway]`)
# The entry point is `bulwark run COMPONENT` (packages/cli/src/commands/run.ts),
# which reads the bootstrap from /etc/bulwark/bootstrap/COMPONENT.json and gets
# its first certificate by Kubernetes attestation. Node 24 runs the TypeScript
# sources directly (type stripping): there is no compile step to ship.
# Built by CI only (no container engine on the development machines); the
# static rules below are checked by test/dockerfile.test.ts.

# --- build: the whole workspace with dev dependencies, checked as CI does -----
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN BULWARK_SKIP_WARM=1 npm ci --no-fund --no-audit \
 && npm run typecheck

# --- production dependencies only, no install scripts ------------------------
FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
# From the build stage, so BuildKit cannot skip it: an image exists only if the build passed.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY packages/ packages/
COPY examples/ examples/
RUN npm ci --omit=dev --ignore-scripts --no-fund --no-audit \
 && rm -rf packages/*/test examples/shop/*/test packages/testkit

# --- runtime: distroless Node.js 24, no shell, no package manager -------------
# Pin by digest in production (gcr.io/distroless/nodejs24-debian12@sha256:…).
FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
WORKDIR /app
# Owned by root and not writable by the process: the code cannot change itself.
COPY --from=prod-deps --chown=0:0 /app /app
# Everything the process writes goes to BULWARK_HOME (a volume) or /tmp (a volume):
# the root filesystem can be mounted read-only.
ENV NODE_ENV=production BULWARK_HOME=/var/lib/bulwark
USER 65532:65532
EXPOSE 8443 8601 8602 8603 8604 8605 8611 8612 8613 8614 9090
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=1", "--v8-pool-size=1", "/app/packages/cli/src/main.ts", "run"]
CMD ["gateway"]
