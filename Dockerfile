# syntax=docker/dockerfile:1
# baton in a container: `baton serve` on 0.0.0.0:8080 behind API keys, the journal on a volume.
#
#   docker build -t baton .
#   docker run --rm baton keys new --name web --role client >> keys.toml   # the key is on stderr, once
#   docker run -p 8080:8080 -v "$PWD/keys.toml:/run/secrets/baton_keys:ro" -v baton-data:/var/lib/baton baton
#
# A non-loopback address needs API keys, so the server reads them from BATON_KEYS
# (/run/secrets/baton_keys, where compose's secrets land) and refuses to start without them.
# The default command serves the offline business-analysis example, which needs nothing but
# baton; to serve your own team, mount its directory and name its file:
#   docker run ... -v "$PWD/myteam:/srv/team:ro" baton serve --addr 0.0.0.0:8080 /srv/team/team.toml
# .ci/packaging.sh checks what can be checked of this file without a container engine.

FROM rust:1.95-slim-bookworm AS build
# Languages besides English and Spanish, 4 to 6 MB each: e.g. --build-arg BATON_FEATURES=lang-fr,lang-de
# or all-languages.
ARG BATON_FEATURES=""
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package baton-cli --features "$BATON_FEATURES" \
    && install -D --mode=0755 target/release/baton /out/baton

FROM debian:bookworm-slim
# ca-certificates: model providers are reached over HTTPS.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/baton --create-home \
        --shell /usr/sbin/nologin baton
COPY --from=build /out/baton /usr/local/bin/baton
COPY examples /usr/share/baton/examples
COPY LICENSE /usr/share/doc/baton/LICENSE
USER baton
WORKDIR /var/lib/baton
VOLUME ["/var/lib/baton"]
ENV BATON_DB=/var/lib/baton/baton.db \
    BATON_KEYS=/run/secrets/baton_keys
EXPOSE 8080
# The image has no curl: bash asks /healthz itself (200 while the journal answers, else 503).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 4 status <&3 && [[ $status == 'HTTP/1.1 200 '* ]]"]
ENTRYPOINT ["baton"]
CMD ["serve", "--addr", "0.0.0.0:8080", "/usr/share/baton/examples/ba-triage/team.toml"]
