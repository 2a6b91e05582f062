# syntax=docker/dockerfile:1
# The kaioken image: one static binary on an empty base, what examples/k8s runs.
#
#   docker build -t kaioken .
#   docker run --rm kaioken --version
#
# The binary is built for x86_64/aarch64-unknown-linux-musl (Alpine's Rust targets
# musl natively and links it statically): it needs no libc at run time, and musl's
# resolver reads /etc/resolv.conf itself, so names resolve in a `scratch` container
# (a statically linked glibc would still look for its NSS libraries to resolve).
# musl's malloc is slow under many threads; on Linux kaioken's own allocations go
# through mimalloc (cli/src/main.rs), whichever C library it is built against.

FROM rust:1-alpine AS build
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
# The release-lto profile (the fastest binary; the image is built seldom), stripped:
# the debug info release keeps for profiling has no use in the image. The caches
# keep the registry and the build between image builds; the binary is copied out of
# the cached target directory in the same step.
ENV CARGO_PROFILE_RELEASE_LTO_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile release-lto --locked -p kaioken \
    && cp target/release-lto/kaioken /usr/local/bin/kaioken

FROM scratch
# kaioken verifies TLS against the Mozilla roots built into it; the system bundle is
# there for `--cacert /etc/ssl/certs/ca-certificates.crt` and for tools that read it.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/local/bin/kaioken /usr/local/bin/kaioken
# Not root: the uid and gid of distroless's "nonroot".
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kaioken"]
