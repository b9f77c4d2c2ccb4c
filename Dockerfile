# token-blacklist: the compiled service on Node 24. Build: docker build -t token-blacklist .
# Stage 1 compiles src/ and gen/ with tsc, then drops dev dependencies; the image gets
# dist/ and production node_modules only: no TypeScript, tsx, esbuild or vitest.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen ./gen
# npm ci runs `prepare`, which is `npm run build` (tsc -> dist/).
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=35000 \
    SQLITE_PATH=/data/tokens.db
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# Served at GET /openapi.json; read once at start.
COPY openapi ./openapi
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 35000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||35000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: drain, GOAWAY, finish in-flight requests, exit 0.
CMD ["node", "dist/src/main.js"]
