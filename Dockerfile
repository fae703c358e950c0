# Şlüz binaries in one small image: static, non-root.
#   docker build -t sluz .
#   docker run --rm -v /etc/sluz:/etc/sluz -v /var/lib/sluz:/var/lib/sluz sluz securityserver serve --config /etc/sluz/securityserver-din.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# PKCS#11 needs cgo (dlopen of the token's library); everything else is pure Go.
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/securityserver ./cmd/registry ./cmd/pkiutil ./cmd/logaudit

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /var/lib/sluz sluz && mkdir -p /var/lib/sluz && chown sluz /var/lib/sluz
COPY --from=build /out/ /usr/local/bin/
USER sluz
WORKDIR /var/lib/sluz
ENTRYPOINT []
CMD ["securityserver", "--help"]
