# Lattice's container image: `docker build -t lattice .`
#
# Three stages: the dependencies alone (a layer that stays cached while
# only our code changes), the release build, and a small runtime image
# with the binary, CA roots and nothing else of the toolchain.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS dependencies
WORKDIR /src
# The workspace's manifests with empty crates: building them builds and
# caches every dependency (SQLCipher and its OpenSSL included).
COPY Cargo.toml Cargo.lock ./
COPY homeserver/Cargo.toml homeserver/Cargo.toml
COPY federation/Cargo.toml federation/Cargo.toml
COPY client-sdk/Cargo.toml client-sdk/Cargo.toml
COPY appservice/Cargo.toml appservice/Cargo.toml
COPY appservice/examples/irc-bridge/Cargo.toml appservice/examples/irc-bridge/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
COPY fuzz/Cargo.toml fuzz/Cargo.toml
COPY tui/Cargo.toml tui/Cargo.toml
COPY .cargo .cargo
RUN for crate in homeserver federation client-sdk appservice appservice/examples/irc-bridge bench fuzz tui; do \
        mkdir -p "$crate/src" && echo 'fn main() {}' > "$crate/src/main.rs" && touch "$crate/src/lib.rs"; \
    done \
    && for bin in e2ee sliding flood; do echo 'fn main() {}' > "bench/src/$bin.rs"; done \
    && cargo build --release --locked -p lattice-homeserver

FROM dependencies AS build
COPY . .
# The real sources are newer than the placeholders: only our crates rebuild.
RUN touch homeserver/src/main.rs homeserver/src/lib.rs federation/src/lib.rs \
    && cargo build --release --locked -p lattice-homeserver --bin lattice \
    && install -D target/release/lattice /out/lattice

FROM debian:${DEBIAN}-slim AS runtime
# CA roots for federation and push gateways (the health check is the
# binary's own `lattice health`: no curl).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin lattice \
    && mkdir -p /data \
    && chown lattice:lattice /data
COPY --from=build /out/lattice /usr/local/bin/lattice

# Configuration: a file (mount it and pass --config) or LATTICE_* variables
# (LATTICE_SERVER__SERVER_NAME=example.org, LATTICE_DATABASE__URL=...).
ENV LATTICE_SERVER__BIND=0.0.0.0:8008 \
    LATTICE_SERVER__DATA_DIR=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 8008: the client API (and federation behind a TLS proxy); 8448: the
# federation listener when [federation] bind and its certificate are set.
EXPOSE 8008 8448
# It asks the address the server binds (LATTICE_SERVER__BIND or the file's).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/lattice", "health"]
# SIGTERM (docker stop) finishes the requests in flight and closes the
# database before the process exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/lattice"]
