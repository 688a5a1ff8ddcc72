# xent: cross-entropy scoring service.
#
#   docker build -t xent .
#   docker run --rm -p 3000:3000 xent
#
# Two stages on the current Node LTS: the build stage installs every dependency and compiles the
# TypeScript, then drops the dev dependencies; the runtime stage copies only the compiled code, the
# production node_modules and package.json, and runs as the unprivileged `node` user (uid 1000).

FROM node:24-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so this layer is reused while only the sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force


FROM node:24-bookworm-slim AS runtime

ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0

WORKDIR /app

# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

USER node
EXPOSE 3000

# Liveness through node itself (the slim image has no curl or wget). Follows PORT and HOST.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const h=process.env.HOST;const host=!h||h==='0.0.0.0'||h==='::'?'127.0.0.1':h.includes(':')?'['+h+']':h;fetch('http://'+host+':'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node is PID 1 and handles SIGTERM itself (graceful shutdown), so `docker stop` is fast. One HTTP process by default;
# HTTP_PROCESSES=N makes it the primary of N (node:cluster), which drains them all on SIGTERM (README "Several HTTP
# processes": scale by replicas where you can). --initial-old-space-size=64 as in `npm start` (README "Performance"):
# without it V8 marks the event loop's heap over and over while large bodies stream in.
CMD ["node", "--initial-old-space-size=64", "dist/server.js"]
