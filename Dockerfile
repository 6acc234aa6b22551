# Builds the fluidform daemon. Not exercised in CI (no container engine there).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fluidform

FROM debian:bookworm-slim
# curl for the health checks of docker-compose.yml; CA certificates for the registries.
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /var/lib/fluidform fluidform && mkdir -p /var/lib/fluidform && chown fluidform /var/lib/fluidform
COPY --from=build /src/target/release/fluidform /usr/local/bin/fluidform
USER fluidform
# Listening on every interface needs TLS (FLUIDFORM_TLS_CERT and FLUIDFORM_TLS_KEY, PEM
# files mounted into the container) or FLUIDFORM_INSECURE_HTTP=true when a
# TLS-terminating proxy is in front; the daemon refuses to start otherwise.
ENV FLUIDFORM_LISTEN=0.0.0.0:8080 FLUIDFORM_DATA_DIR=/var/lib/fluidform
EXPOSE 8080
ENTRYPOINT ["fluidform", "serve"]
