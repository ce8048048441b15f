# syntax=docker/dockerfile:1
# The Stevedore worker image: `docker build -t stevedore .` from the repository root.
# Stage 1 builds the CLI and what it depends on; `pnpm deploy --prod` then copies the CLI with its production
# dependencies only (no dev tools, no sources) into /out. Stage 2 is Node's slim image, running as the
# unprivileged `node` user. packages/cli/src/deploy.int.test.ts performs the same steps without Docker.
FROM node:20-bookworm-slim AS build
WORKDIR /src
RUN npm install -g pnpm@10.34.8
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm exec turbo run build --filter=@stevedore/cli... \
 && pnpm --filter @stevedore/cli deploy --prod --legacy /out

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
WORKDIR /app
COPY --from=build --chown=node:node /out /app
USER node
# /health and /metrics with --with-healthcheck (PREFECT_WORKER_WEBSERVER_PORT, default 8080).
EXPOSE 8080
# The heap settings (a young generation of 2 x 1 MB, a collection when the heap and HTTP buffers grew by 16 MB)
# are the `stevedore` bin's own (packages/cli/src/heap.ts), the same in and out of the image.
ENTRYPOINT ["node", "--enable-source-maps", "/app/dist/bin.js"]
CMD ["start"]
