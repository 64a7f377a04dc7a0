# syntax=docker/dockerfile:1
#
# Shop's container images: one `shop` binary, one image per service.
#
#   docker build --target catalog -t shop-catalog .     (also cart, order, payment)
#   docker build -t shop-gateway .                      (the last stage: gateway + dashboard)
#
# Stages:
#   dashboard  Node: npm ci && npm run build -> dashboard/dist (built on the
#              build machine's own platform: the output is plain JS/CSS)
#   chef       Rust toolchain, the C toolchain librdkafka needs, cargo-chef
#   planner    the dependency recipe of the workspace (changes only when
#              Cargo.toml / Cargo.lock change)
#   builder    compiles the dependencies from the recipe (a cached layer),
#              then the workspace, with the dashboard embedded
#   runtime    distroless cc (glibc + libgcc, no shell, no package manager),
#              uid 65532, nothing written to disk: runs with a read-only
#              root filesystem
#   catalog, cart, order, payment, gateway
#              the runtime with each service's command, port and health
#              check (metadata only: all five share every layer)

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20

FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS dashboard
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error
COPY dashboard/ ./
RUN npm run build

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
# rdkafka-sys builds librdkafka from source: its ./configure is bash, then
# make builds the C library and its C++ wrapper (g++); python3 lets the
# build generate librdkafka's linker script. The versions are whatever
# bookworm ships: this stage never reaches the final image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make python3 \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
# Symbols are of no use in the image; the same profile settings must apply
# to `cargo chef cook` and `cargo build` for the cooked layer to be reused.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never
WORKDIR /src

FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only (librdkafka included): rebuilt when the recipe changes.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked -p shop --recipe-path recipe.json
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# The release binary embeds dashboard/dist at compile time.
COPY --from=dashboard /src/dashboard/dist ./dashboard/dist
# The commit /metrics names in shop_build_info (CI passes the one it builds).
ARG SHOP_COMMIT=unknown
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked -p shop \
    && install -m 0755 target/release/shop /usr/local/bin/shop

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="shop" \
      org.opencontainers.image.description="Shop: catalog, cart, order, payment and identity services and their gateway, in one binary" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /usr/local/bin/shop /usr/local/bin/shop
ENV LOG_FORMAT=json \
    BIND=0.0.0.0
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/shop"]

FROM runtime AS catalog
ENV PORT=8001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shop", "check", "http://127.0.0.1:8001/health"]
CMD ["serve", "catalog"]

FROM runtime AS cart
ENV PORT=8002
EXPOSE 8002
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shop", "check", "http://127.0.0.1:8002/health"]
CMD ["serve", "cart"]

FROM runtime AS order
ENV PORT=8003
EXPOSE 8003
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shop", "check", "http://127.0.0.1:8003/health"]
CMD ["serve", "order"]

FROM runtime AS payment
ENV PORT=8004
EXPOSE 8004
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shop", "check", "http://127.0.0.1:8004/health"]
CMD ["serve", "payment"]

FROM runtime AS identity
ENV PORT=8005
EXPOSE 8005
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shop", "check", "http://127.0.0.1:8005/health"]
CMD ["serve", "identity"]

# Last, so a plain `docker build .` gives the gateway: the dashboard and
# the API on port 3000.
FROM runtime AS gateway
ENV PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shop", "check", "http://127.0.0.1:3000/health"]
CMD ["serve", "gateway"]
