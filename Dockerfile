# attestd's container image, for those with a Docker engine (or BuildKit):
#   docker build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     -t ghcr.io/attestd/attestd:0.1.0 .
# It is the image `make image` builds with no Docker engine and no base image
# (cmd/attestd-image, checked by TestImage): a static attestd at
# /usr/local/bin/attestd as the entrypoint, Debian's CA certificates, a
# nonroot user and group 65532 (the Helm chart's runAsUser), a writable /tmp
# and /var/lib/attestd (owned by 65532), and nothing else — no shell, no
# package manager. Multi-platform with buildx: --platform linux/amd64,linux/arm64.
# Pin the build image by digest (golang:1.26.8-bookworm@sha256:…) for a
# release; `make image` is the build that is tested and reproducible.
ARG GO_IMAGE=golang:1.26.8-bookworm

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /rootfs/usr/local/bin/attestd ./cmd/attestd
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib /rootfs/home /owned/var/lib/attestd /owned/home/nonroot \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' >/rootfs/etc/group \
 && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=65532:65532 /owned/var/lib/attestd /var/lib/attestd
COPY --from=build --chown=65532:65532 /owned/home/nonroot /home/nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="attestd" \
      org.opencontainers.image.description="Document fingerprint attestation anchored on EVM chains" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/attestd/attestd"
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/attestd
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/attestd"]
