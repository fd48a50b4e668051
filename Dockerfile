# Portcullis images. Node is pinned to the version scripts/node.sh installs (a test keeps them equal).
#   docker build --target gateway -t portcullis .      # production: compiled JavaScript, no dev deps
#   docker build --target demo -t portcullis-demo .    # the quick start (`npm start`)
# Not built by CI here (no Docker engine on our machines); `npm start` and `npm test` are the tested paths.
ARG NODE_VERSION=26.12.1

# The pinned OPA and Regal (scripts/tools.sh), built with Go.
FROM golang:1.26-bookworm AS tools
WORKDIR /src
COPY scripts/tools.sh scripts/tools.sh
RUN PORTCULLIS_TOOLS_DIR=/tools bash scripts/tools.sh

# Everything installed, the gateway compiled to dist/, the policy bundles built.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
COPY --from=tools /tools /root/.cache/portcullis/tools
RUN npm run build && npm run bundle

# The quick start: development IdP, demo upstream and the gateway with the example policy.
FROM build AS demo
ENV PORT=8080
CMD ["npm", "start"]

# Production: runtime dependencies only, the compiled gateway, the built bundles; not root.
FROM node:${NODE_VERSION}-bookworm-slim AS gateway
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/bin bin
COPY --from=build /app/dist dist
COPY --from=build /app/bundles bundles
USER node
ENTRYPOINT ["node", "bin/portcullis.mjs"]
CMD ["--config", "/etc/portcullis/gateway.yaml"]
