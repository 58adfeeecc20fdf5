# SPDX-License-Identifier: Apache-2.0
# kagent-retention image: built from source with the project's CMake, run from an image that holds
# the binary, libpq's shared libraries (loaded for PostgreSQL only), CA certificates and a passwd
# entry for UID 65532 — no shell, no package manager. The binary is the small build
# (-DSTATIC_DEPS=ON): mbedTLS, libcurl and libmicrohttpd from Debian's sources with only what it
# uses (scripts/build-deps), linked statically with SQLite, jansson and libyaml.
#
#   buildah bud --isolation chroot --storage-driver vfs -t kagent-retention .   (or docker build)
#
# DEBIAN_IMAGE is any Debian 12 image (default: the official one). Where no registry is reachable,
# scripts/build-image makes one with debootstrap and passes it here.
ARG DEBIAN_IMAGE=debian:bookworm

FROM ${DEBIAN_IMAGE} AS build
# A mirror that serves a snapshot of the archive has Release files past their Valid-Until (the
# testing release's, which scripts/build-deps may read): where the host's apt accepts them
# (Acquire::Check-Valid-Until "false"), scripts/build-image passes that on; signatures are still
# checked.
ARG APT_CHECK_VALID_UNTIL=true
RUN if [ "$APT_CHECK_VALID_UNTIL" = false ]; then \
      echo 'Acquire::Check-Valid-Until "false";' > /etc/apt/apt.conf.d/90check-valid-until; \
    fi
# The toolchain, the -dev packages of cmake/deps.cmake (BUILD_TESTING=OFF: no cmocka; mbedTLS,
# libcurl and libmicrohttpd come from scripts/build-deps), and zlib's (sqlite3.pc names -lz for
# STATIC_DEPS, though SQLite does not call it). scripts/build-image's debootstrap base already
# has them, so this step only refreshes the lists (kept for scripts/build-deps).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates zlib1g-dev \
      libsqlite3-dev libpq-dev libjansson-dev libyaml-dev
WORKDIR /src
COPY scripts/build-deps scripts/
RUN scripts/build-deps /deps && rm -rf /deps/apt /var/lib/apt/lists/*
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY pkg/ pkg/
COPY cmd/ cmd/
RUN PKG_CONFIG_PATH=/deps/lib/pkgconfig cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_TESTING=OFF -DWERROR=OFF -DSTATIC_DEPS=ON \
 && cmake --build /build -j"$(nproc)" \
 && install -D -s -m 0755 /build/cmd/kagent-retention/kagent-retention /rootfs/usr/local/bin/kagent-retention
# The runtime file system: every library the dynamic loader resolves for the binary (ldd lists
# the C library and the loader) and for libpq5, which the binary loads when a PostgreSQL store
# opens (dlopen of libpq.so.5; with its OpenSSL, Kerberos, LDAP, ...), the merged-/usr symlinks, the
# CA bundle (libcurl's and libpq's default), and passwd/group entries for 65532 (libpq looks the
# user up when the URL names none). /tmp is 1777 for TMPDIR (VACUUM's temporary copy).
RUN set -eu; \
    for d in bin lib lib32 lib64 libx32 sbin; do \
      if [ -L "/$d" ]; then mkdir -p "/rootfs$(readlink -f "/$d")"; ln -s "$(readlink "/$d")" "/rootfs/$d"; fi; \
    done; \
    libpq=$(ldconfig -p | awk '$1 == "libpq.so.5" { print $NF; exit }'); \
    [ -n "$libpq" ]; \
    { ldd /rootfs/usr/local/bin/kagent-retention; ldd "$libpq"; echo "$libpq"; } \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u > /tmp/libs; \
    cat /tmp/libs; \
    while read -r lib; do \
      real=$(readlink -f "$lib"); \
      mkdir -p "/rootfs$(dirname "$real")"; \
      cp -a "$real" "/rootfs$real"; \
      [ -e "/rootfs$lib" ] || ln -s "$real" "/rootfs$lib"; \
    done < /tmp/libs; \
    mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/home/nonroot; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group; \
    printf 'hosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    chmod 1777 /rootfs/tmp; chown 65532:65532 /rootfs/home/nonroot; \
    /rootfs/usr/local/bin/kagent-retention version

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/bin TMPDIR=/tmp
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 9464 9465
LABEL org.opencontainers.image.title="kagent-retention" \
      org.opencontainers.image.description="Retention controller for kagent's database: prunes what a RetentionPolicy allows, guards the SQLite volume, exports metrics" \
      org.opencontainers.image.source="https://github.com/kagent-dev/kagent-retention" \
      org.opencontainers.image.url="https://github.com/kagent-dev/kagent-retention" \
      org.opencontainers.image.documentation="https://github.com/kagent-dev/kagent-retention/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="kagent-retention maintainers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
ENTRYPOINT ["kagent-retention"]
CMD ["run"]
