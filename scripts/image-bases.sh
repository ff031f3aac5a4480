#!/usr/bin/env bash
# The two base images Dockerfile.api and Dockerfile.worker build on, made here
# from what this machine can reach (Debian's archive and its own Rust toolchain)
# because no container registry is reachable. scripts/images.sh passes them in
# as the RUST_IMAGE and RUNTIME_IMAGE build arguments; on a machine that can
# pull, the Dockerfiles' pinned public bases are used instead.
#
#   localhost/ecomexpress/rust-builder:<rust version>-bookworm
#       stands in for rust:<version>-slim-bookworm: a Debian 12 minbase rootfs
#       (mmdebstrap) with gcc, libc6-dev and ca-certificates (what the slim
#       image has and aws-lc-sys needs), plus this machine's rustc/cargo/std
#       for x86_64 under /usr/local/rust, and the machine's local CAs
#       (/usr/local/share/ca-certificates), so cargo reaches crates.io through
#       whatever TLS-inspecting proxy the machine trusts. CARGO_HOME=/usr/local/cargo with its
#       bin/ first on PATH, as in the official image, so `cargo install` works
#       the same way.
#   localhost/ecomexpress/distroless-cc:debian12-nonroot
#       stands in for gcr.io/distroless/cc-debian12:nonroot: the packages that
#       image is made of (base-files, netbase, tzdata, the CA bundle of
#       ca-certificates, libc6, libssl3, libgcc-s1, libgomp1, libstdc++6),
#       unpacked without their maintainer scripts or dependencies; a package
#       record per package in /var/lib/dpkg/status.d/ (what scanners read);
#       /etc/passwd and /etc/group with root, nobody and nonroot (65532); no
#       shell, no package manager; USER 65532:65532, WORKDIR /home/nonroot.
#       (distroless's base also carries the openssl program; nothing here
#       runs it, so it is left out.)
#
# Both are made from the same three suites (bookworm, bookworm-updates,
# bookworm-security of deb.debian.org) at the time they are made. An existing
# base is kept; REBUILD_BASES=1 makes both again. Needs root, apt and
# mmdebstrap (installed by scripts/images.sh).
#
# Usage: scripts/image-bases.sh        prints the two image names when done
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf 'image-bases: %s\n' "$*" >&2; }
die() {
  printf 'image-bases: FAIL: %s\n' "$*" >&2
  exit 1
}

RUST_VERSION=$(rustc --version | awk '{print $2}')
[[ $RUST_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read rustc's version ($(rustc --version))"
BUILDER_IMAGE=localhost/ecomexpress/rust-builder:$RUST_VERSION-bookworm
RUNTIME_BASE_IMAGE=localhost/ecomexpress/distroless-cc:debian12-nonroot

MIRROR=http://deb.debian.org
SUITES=(
  "deb $MIRROR/debian bookworm main"
  "deb $MIRROR/debian bookworm-updates main"
  "deb $MIRROR/debian-security bookworm-security main"
)
RUNTIME_PACKAGES=(base-files netbase tzdata ca-certificates libc6 libssl3 libgcc-s1 libgomp1 libstdc++6)
# Docs and manuals stay out of the builder (as in Debian's slim images).
SLIM_EXCLUDES=(
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/image-bases.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------------
# builder: Debian 12 minbase + gcc + this machine's Rust toolchain
# ---------------------------------------------------------------------------
make_builder() {
  local sysroot stage=$WORK/rust
  sysroot=$(rustc --print sysroot)
  log "making $BUILDER_IMAGE (Debian 12 minbase + gcc, Rust $RUST_VERSION from $sysroot)"
  # Only what compiling for x86_64 needs: no docs, sources, clippy, rustfmt.
  mkdir -p "$stage/usr/local/rust/bin" "$stage/usr/local/rust/lib/rustlib" "$stage/usr/local/cargo/bin"
  cp -a "$sysroot/bin/cargo" "$sysroot/bin/rustc" "$stage/usr/local/rust/bin/"
  cp -a "$sysroot"/lib/*.so* "$stage/usr/local/rust/lib/"
  cp -a "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu" "$stage/usr/local/rust/lib/rustlib/"
  # The machine's own CAs (a TLS-inspecting egress proxy's, say), so that cargo
  # in the builder reaches crates.io the way the machine does. Only the builder
  # gets them; the runtime image trusts Debian's bundle alone.
  mkdir -p "$stage/usr/local/share/ca-certificates"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$stage/usr/local/share/ca-certificates/"
  fi
  # mmdebstrap runs each hook in a shell with the rootfs as $1.
  # shellcheck disable=SC2016
  local hook_ca='chroot "$1" update-ca-certificates' hook_rustc='chroot "$1" /usr/local/rust/bin/rustc --version'
  mmdebstrap --quiet --mode=root --variant=minbase --include=gcc,libc6-dev,ca-certificates \
    "${SLIM_EXCLUDES[@]}" \
    --customize-hook="sync-in $stage /" \
    --customize-hook="$hook_ca" --customize-hook="$hook_rustc" \
    bookworm "$WORK/builder.tar" "${SUITES[@]}"
  podman import --quiet \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change "ENV RUST_VERSION=$RUST_VERSION" \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /' \
    --change 'CMD ["/bin/bash"]' \
    --message "Debian 12 minbase, gcc, Rust $RUST_VERSION (scripts/image-bases.sh)" \
    "$WORK/builder.tar" "$BUILDER_IMAGE" >/dev/null
  rm -f "$WORK/builder.tar"
}

# ---------------------------------------------------------------------------
# runtime: distroless cc-debian12:nonroot from the same Debian packages
# ---------------------------------------------------------------------------
make_runtime() {
  local apt_dir=$WORK/apt rootfs=$WORK/rootfs deb pkg
  log "making $RUNTIME_BASE_IMAGE from ${RUNTIME_PACKAGES[*]}"
  # A private apt state: the host's sources and lists are neither used nor touched.
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$rootfs"
  printf '%s\n' "${SUITES[@]}" >"$apt_dir/sources.list"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o Dir::State::status=/dev/null -o APT::Architecture=amd64 -o Debug::NoLocking=1
    -o APT::Sandbox::User=root
  )
  apt-get "${apt_opts[@]}" -qq update
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "${RUNTIME_PACKAGES[@]}")

  mkdir -p "$rootfs/var/lib/dpkg/status.d"
  for deb in "$apt_dir"/debs/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -f "$deb" >"$rootfs/var/lib/dpkg/status.d/$pkg"
    if [[ $pkg == ca-certificates ]]; then
      # Only the bundle, as distroless does: the certificates concatenated.
      local ca=$WORK/ca
      mkdir -p "$ca" "$rootfs/etc/ssl/certs"
      dpkg-deb -x "$deb" "$ca"
      cat "$ca"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
      mkdir -p "$rootfs/usr/share/doc/ca-certificates"
      cp "$ca/usr/share/doc/ca-certificates/copyright" "$rootfs/usr/share/doc/ca-certificates/"
    else
      dpkg-deb -x "$deb" "$rootfs"
    fi
  done
  # No docs but the licences, no manuals, no maintainer helpers.
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,info,lintian,bash-completion} "$rootfs"/etc/update-motd.d

  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nogroup:x:65534:
nonroot:x:65532:
EOF
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  mkdir -p "$rootfs/tmp" "$rootfs/root" "$rootfs/home/nonroot"
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root" "$rootfs/home/nonroot"
  chown 65532:65532 "$rootfs/home/nonroot"
  # Every binary's libraries must resolve inside the rootfs (no ldconfig runs).
  [[ -e $rootfs/lib64/ld-linux-x86-64.so.2 ]] || die "no dynamic loader in the runtime rootfs"

  tar --numeric-owner --sort=name -C "$rootfs" -cf "$WORK/runtime.tar" .
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /home/nonroot' \
    --message "distroless cc-debian12:nonroot equivalent (scripts/image-bases.sh)" \
    "$WORK/runtime.tar" "$RUNTIME_BASE_IMAGE" >/dev/null
}

command -v podman >/dev/null || die "podman not found (scripts/images.sh installs it)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (scripts/images.sh installs it)"
((EUID == 0)) || die "making the bases needs root (mmdebstrap --mode=root, ownership in the rootfs)"

# ensure_base IMAGE MAKER: runs MAKER unless IMAGE exists (or REBUILD_BASES=1).
ensure_base() {
  local image=$1 maker=$2 s=$SECONDS
  if [[ ${REBUILD_BASES:-0} != 1 ]] && podman image exists "$image"; then
    log "$image exists (REBUILD_BASES=1 makes it again)"
    return 0
  fi
  "$maker"
  log "$image made in $((SECONDS - s))s"
}
ensure_base "$BUILDER_IMAGE" make_builder
ensure_base "$RUNTIME_BASE_IMAGE" make_runtime
printf '%s\n%s\n' "$BUILDER_IMAGE" "$RUNTIME_BASE_IMAGE"
