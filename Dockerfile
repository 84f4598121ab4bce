# syntax=docker/dockerfile:1
# Build: docker build -t openrouter-proxy .
# Run:   docker run -p 127.0.0.1:8080:8080 -p 127.0.0.1:8081:8081 -v ./data:/app/data openrouter-proxy

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# go-sqlite3 needs cgo; the binary links glibc dynamically, so the runtime
# image is the same Debian release.
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/openrouter-proxy ./app

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown app:app /app/data
WORKDIR /app
COPY --from=build /out/openrouter-proxy /app/openrouter-proxy
USER app
# Inside a container the service must listen on all interfaces for the
# published ports to reach it; publish them on 127.0.0.1 on the host.
ENV PROXY_HOST=0.0.0.0 \
    WEB_HOST=0.0.0.0 \
    DATA_DIR=/app/data
VOLUME ["/app/data"]
EXPOSE 8080 8081
ENTRYPOINT ["/app/openrouter-proxy"]
