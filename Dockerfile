# syntax=docker/dockerfile:1
# sessiond: a static binary in a distroless image (no shell, no package
# manager), running as a non-root user. See docs/deployment.md.
#
#   docker build --build-arg VERSION=v1.2.3 -t sessiond .
#   docker run -p 8420:8420 -v sessiond-data:/var/lib/sessiond sessiond

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
# The SQLite driver is pure Go: CGO_ENABLED=0 gives a static binary.
RUN BUILD_TIME="$(date -u +%Y-%m-%dT%H:%M:%SZ)" && \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.buildTime=${BUILD_TIME}" \
      -o /out/sessiond ./cmd/sessiond && \
    mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
# nonroot is uid/gid 65532; the data directory belongs to it.
COPY --from=build /out/sessiond /usr/local/bin/sessiond
COPY --from=build --chown=65532:65532 /out/data /var/lib/sessiond
USER 65532:65532
ENV SESSIOND_LISTEN=0.0.0.0:8420 \
    SESSIOND_DATA=/var/lib/sessiond
VOLUME ["/var/lib/sessiond"]
EXPOSE 8420
# No shell in the image: the binary checks /readyz itself, at the address
# server.listen gives (SESSIOND_LISTEN, or a mounted configuration).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/sessiond", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sessiond"]
CMD ["serve"]
