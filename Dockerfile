# Roster's container image: built in a Rust image, run from a distroless one (glibc and CA
# certificates, no shell, no package manager) as a non-root user. See docs/deployment.md.
#
#   docker build -t roster .
#   docker run -p 8480:8480 -v roster-data:/var/lib/roster roster
#
# Settings come from ROSTER_* variables (docs/configuration.md); the data directory (the SQLite
# database, the generated secret key, avatars) is the volume /var/lib/roster.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p roster --bin roster \
 && install -D -m 0755 target/release/roster /out/roster \
 && install -d -m 0700 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/roster /usr/local/bin/roster
# The data directory, owned by the image's non-root user (65532).
COPY --from=builder --chown=65532:65532 /out/data /var/lib/roster
USER 65532:65532
ENV ROSTER_LISTEN=0.0.0.0:8480 \
    ROSTER_DATA_DIR=/var/lib/roster \
    ROSTER_LOG_FORMAT=json
VOLUME ["/var/lib/roster"]
EXPOSE 8480
# No curl in distroless: roster asks its own GET /readyz (exit 0 only on 200).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/roster", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["serve"]
