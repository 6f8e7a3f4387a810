# mlahub on Debian 12 (bookworm): mlahub-broker, mlahub-agent and the mlahub
# tool in one image. See docs/CONFIG.md "Containers".
#
#   docker build -t mlahub .
#   docker run --rm mlahub mlahub --help
#
# Two stages: the build stage installs the toolchain and -dev packages with
# scripts/deps.sh (the same script as on a workstation) and builds the
# release preset without tests; the runtime stage has only the runtime
# libraries and build/bin/*, and runs as an unprivileged user.

ARG DEBIAN_IMAGE=debian:bookworm

# ---- build ------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# The dependency layer is cached as long as deps.sh does not change.
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
 && cmake --preset release -DMLAHUB_BUILD_TESTS=OFF \
 && cmake --build --preset release -j"$(nproc)" \
 && strip --strip-debug build/bin/*

# ---- runtime ----------------------------------------------------------------
FROM ${DEBIAN_IMAGE}-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (their own dependencies, e.g. libssl3 for
# cpp-httplib, come along). FlatBuffers is linked statically.
# scripts/check-compose.sh checks this list against what build/bin/* link.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libsodium23 librocksdb7.8 libzmq5 libspdlog1.10 libfmt9 \
      libtomlplusplus3 libcpp-httplib0.11 \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged user; docker-compose.yml may run as another uid
# (MLAHUB_UID) so that bind-mounted key files (mode 0600) stay readable.
ARG MLAHUB_UID=10001
ARG MLAHUB_GID=10001
RUN groupadd --system --gid "${MLAHUB_GID}" mlahub \
 && useradd --system --uid "${MLAHUB_UID}" --gid mlahub --home-dir /net --no-create-home \
      --shell /usr/sbin/nologin mlahub \
 && install -d -o mlahub -g mlahub -m 0755 /net

COPY --from=build /src/build/bin/ /usr/local/bin/

# Network directories (keys, configs, data) are mounted under /net; the
# daemons' data directories live there (see docker-compose.yml). The ZeroMQ
# port of the broker; agent APIs and metrics stay on loopback.
VOLUME ["/net"]
EXPOSE 7700
WORKDIR /net
USER mlahub
# Each service names its daemon and --config (docker-compose.yml).
CMD ["mlahub", "--help"]
