#!/usr/bin/env bash
# Builds the repository's Dockerfile with podman (Debian's package) and
# starts the image the way an operator would: as its own user, with the
# /data volume and LATTICE_* variables, health check, an account and a
# message, a graceful stop (SIGTERM), and a start again that finds both.
#
# The base images come from Docker Hub where it can be reached (GitHub's
# runners). The CI machine cannot, so there they are stand-ins made here
# and tagged with their names: debian:bookworm-slim from debootstrap
# (Debian's minimal system), and rust:<version>-bookworm from it plus a C
# toolchain and the machine's own Rust (rust-standin.Containerfile). The
# Dockerfile itself runs unchanged.
# This machine's runtime also needs runc, and lower process limits than
# podman's defaults (it may not raise its own).
set -euo pipefail
cd "$(dirname "$0")/../.."

podman=(podman --runtime runc)
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
debian=$(sed -n 's/^ARG DEBIAN=//p' Dockerfile)

pulled() { "${podman[@]}" image exists "$1" || timeout 300 "${podman[@]}" pull -q "$1" >/dev/null 2>&1; }
if ! pulled "docker.io/library/debian:$debian-slim"; then
  echo "making a stand-in for debian:$debian-slim with debootstrap"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase "$debian" "$rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$rootfs" -c . | "${podman[@]}" import - "docker.io/library/debian:$debian-slim" >/dev/null
  rm -rf "$rootfs"
fi
if ! pulled "docker.io/library/rust:$rust_version-$debian"; then
  echo "making a stand-in for rust:$rust_version-$debian"
  toolchain=$(rustc --print sysroot)
  "${podman[@]}" build --pull=never --network host "${limits[@]}" \
    -v "$toolchain:/toolchain:ro" -v /usr/local/share/ca-certificates:/machine-ca:ro \
    -f deploy/image-check/rust-standin.Containerfile \
    -t "docker.io/library/rust:$rust_version-$debian" deploy/image-check >/dev/null
fi

# Docker's format keeps the HEALTHCHECK (OCI's has no such field).
"${podman[@]}" build --pull=never --network host --format docker "${limits[@]}" \
  -t localhost/lattice:check . >/dev/null
echo "image built: $("${podman[@]}" image inspect --format '{{.Size}}' localhost/lattice:check) bytes"

name="lattice-check-$$"
volume="lattice-check-data-$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
cleanup() {
  "${podman[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true
  "${podman[@]}" volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "image check: $*" >&2; "${podman[@]}" logs "$name" 2>&1 | tail -n 30 >&2 || true; exit 1; }

# As the Helm chart runs it: read-only root file system, every capability
# dropped, no privilege escalation. The host's network namespace: the
# machine's sandbox has no container networking, and the address below is
# loopback only. The HEALTHCHECK is run below by hand: podman's timers for
# it need systemd, which the machine has not.
"${podman[@]}" run -d --name "$name" --network host "${limits[@]}" \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  --health-interval disable \
  -v "$volume:/data" \
  -e LATTICE_SERVER__BIND="127.0.0.1:$port" \
  -e LATTICE_SERVER__SERVER_NAME=image.test \
  -e LATTICE_REGISTRATION__ENABLED=false \
  localhost/lattice:check >/dev/null

wait_for_health() {
  for _ in $(seq 1 60); do
    curl -fsS "$url/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  fail "no answer on /health"
}
wait_for_health
[ "$("${podman[@]}" exec "$name" id -u)" = 10001 ] || fail "not running as uid 10001"
"${podman[@]}" healthcheck run "$name" || fail "the image's HEALTHCHECK failed"
"${podman[@]}" run --rm "${limits[@]}" localhost/lattice:check --version | grep -q '^lattice ' \
  || fail "--version"

# An account made with the admin tool inside the container, then used
# from outside over HTTP.
"${podman[@]}" exec "$name" lattice admin create-user alice --password 'correct horse' >/dev/null \
  || fail "lattice admin create-user"
login() {
  curl -fsS -X POST "$url/_matrix/client/v3/login" -H 'Content-Type: application/json' \
    -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
token=$(login) || fail "login"
room=$(curl -fsS -X POST "$url/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])') || fail "createRoom"
curl -fsS -X PUT "$url/_matrix/client/v3/rooms/$room/send/m.room.message/txn1" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"msgtype":"m.text","body":"kept across restarts"}' >/dev/null || fail "send"

# SIGTERM: the server finishes and exits 0 well within the grace period.
"${podman[@]}" stop -t 30 "$name" >/dev/null
[ "$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")" = 0 ] || fail "exit code after SIGTERM"

"${podman[@]}" start "$name" >/dev/null
wait_for_health
token=$(login) || fail "login after the restart"
curl -fsS "$url/_matrix/client/v3/rooms/$room/messages?dir=b&limit=10" -H "Authorization: Bearer $token" |
  grep -q 'kept across restarts' || fail "the message is gone after the restart"
echo "image check: built; read-only root, no capabilities, uid 10001; healthy; admin tool, login, message kept across a SIGTERM restart"
