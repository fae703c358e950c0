# Şlüz binaries in one small image, run as a non-root user.
#
# Default: static binaries (CGO_ENABLED=0, -tags nopkcs11) on an empty base
# image. Signing keys are PEM files; a PKCS#11 key in the configuration is
# refused by check-config and at start.
#   docker build -t sluz .
#
# PKCS#11 (HSM) variant: built with cgo, so that the security server can load
# the token vendor's library; the runtime is Debian slim (glibc, dlopen).
# Mount or install the vendor's PKCS#11 library into the image.
#   docker build --build-arg PKCS11=yes -t sluz:pkcs11 .
#
# Either way:
#   docker run --rm -v /etc/sluz:/etc/sluz -v /var/lib/sluz:/var/lib/sluz sluz \
#     securityserver serve --config /etc/sluz/securityserver-din.yaml
ARG PKCS11=no

FROM golang:1.26 AS build
ARG PKCS11
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN case "$PKCS11" in \
      yes) CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/securityserver ./cmd/registry ./cmd/pkiutil ./cmd/logaudit ;; \
      no)  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -tags nopkcs11 -o /out/ ./cmd/securityserver ./cmd/registry ./cmd/pkiutil ./cmd/logaudit ;; \
      *)   echo "PKCS11 must be yes or no, not $PKCS11" >&2; exit 1 ;; \
    esac
# The empty runtime image has no shell to make the state directory with.
RUN mkdir -p /rootfs/var/lib/sluz

# Static: nothing but the binaries. The security server trusts only the
# federation's CAs from its global configuration, so no CA bundle is needed.
FROM scratch AS runtime-no
COPY --from=build /out/ /usr/local/bin/
COPY --from=build --chown=10001:10001 /rootfs/var/lib/sluz /var/lib/sluz
ENV PATH=/usr/local/bin
USER 10001:10001

FROM debian:bookworm-slim AS runtime-yes
RUN useradd --system --uid 10001 --home /var/lib/sluz sluz && mkdir -p /var/lib/sluz && chown sluz /var/lib/sluz
COPY --from=build /out/ /usr/local/bin/
USER sluz

FROM runtime-${PKCS11}
WORKDIR /var/lib/sluz
ENTRYPOINT []
CMD ["securityserver", "--help"]
