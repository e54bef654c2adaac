#!/usr/bin/env bash
# The docker compose journey of the README, end to end, as root, once with each compose:
# Compose v2 (`docker compose`, the CLI plugin) first, then the older standalone
# `docker-compose` (1.29, "v1"). Each run:
#   up -d --build -> lb1 is MASTER and serves the client -> kill lb1 -> lb2 serves the
#   client after a short outage, same backend (persistence) -> start lb1 -> lb1 logs
#   tables_synced, then takes the VIP back.
# and prints PASS or FAIL with the compose and version it used; the exit status is
# non-zero when either failed.
#
# It brings what it needs: docker.io and docker-compose from Debian when missing, a
# dockerd when none runs (stopped again at the end, with the firewall rules it added),
# and node:20-bookworm-slim when the image is absent. Machines that reach no image
# registry (this project's CI) get a local stand-in for that public image: Debian
# bookworm from debootstrap (minbase) plus this machine's own Node.js 20 and npm, laid
# out where the public image has them (/usr/local). HALO_E2E_PULL=1 pulls the real one.
#
# Compose v2 when `docker compose version` does not work: Debian bookworm has no v2
# package (its docker-compose is 1.29, and that one stays). Debian trixie's docker-compose
# package is v2 (2.26.1, a Go binary that needs only libc6 >= 2.34), under the same
# package name, so it is not installed as a package: apt-get, with a sources list and
# state of its own (the machine's apt lists, cache and packages are left alone), fetches
# trixie's index, checking its signed InRelease against debian-archive-keyring, and
# downloads the .deb, checked against the index's SHA256. Only the CLI plugin binary
# from it is installed, as /usr/local/lib/docker/cli-plugins/docker-compose (where the
# docker CLI looks), and stays for the next run.
#
# The image: v2 builds it with BuildKit, its default, through the buildx client built
# into it (the 20.10 daemon's BuildKit; no buildx plugin needed). docker-compose 1.29
# hands builds to `docker build`, which here is the legacy builder with a cache of its
# own, so the v1 run re-uses the halo:local that v2 has just built from this tree
# (`up -d`, no --build) instead of a second full build. With HALO_E2E_COMPOSE set, that
# one compose runs alone and builds.
#
# Everything is torn down after each run, also on failure, and every wait is bounded.
# Settings (environment): HALO_E2E_COMPOSE="docker compose"|docker-compose (that one
# only; default: both), HALO_E2E_MAX_OUTAGE_MS (default 3000), HALO_E2E_DEBIAN_MIRROR,
# HALO_E2E_PULL, HALO_E2E_KEEP=1 (leave the last run's containers up for a look; dockerd
# too).
set -euo pipefail

T0=$(date +%s)
cd "$(dirname "$0")/../.."
PROJECT=halo-e2e
BASE_IMAGE=node:20-bookworm-slim
MAX_OUTAGE_MS=${HALO_E2E_MAX_OUTAGE_MS:-3000}
WORK=$(mktemp -d /tmp/halo-compose-e2e.XXXXXX)
APT_V2=
STARTED_DOCKERD=0
DOCKERD_PID=
COMPOSE=()
FLAVOUR=
TAG=
RESULTS=()
FAILED=0

log() { printf '[compose-e2e %3ds%s] %s\n' "$(($(date +%s) - T0))" "${TAG:+ $TAG}" "$*"; }
die() {
  log "FAIL: $*"
  exit 1
}

# --- teardown -------------------------------------------------------------------------

stop_dockerd() {
  [ "$STARTED_DOCKERD" = 1 ] || return 0
  log "stopping the dockerd this run started (pid $DOCKERD_PID)"
  kill "$DOCKERD_PID" 2>/dev/null || true
  local _
  for _ in $(seq 1 60); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$DOCKERD_PID" 2>/dev/null; then
    log "dockerd still running after 30 s: SIGKILL"
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
  fi
  # dockerd leaves its NAT and FORWARD rules (and a FORWARD policy of DROP) behind.
  if [ -s "$WORK/iptables.before" ]; then
    iptables-restore <"$WORK/iptables.before" || log "could not restore the firewall rules"
  fi
  if [ ! -e "$WORK/docker0.existed" ]; then ip link del docker0 2>/dev/null || true; fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  TAG=
  if [ -e "$WORK/was-up" ] && [ "${HALO_E2E_KEEP:-0}" != 1 ]; then
    # Each changed build leaves its predecessors untagged (~1.3 GB with the build
    # stage; v2 also tags one image per service, the last one wins); this run's stay,
    # as the next run's layer cache.
    timeout 120 docker image prune -f --filter until=1h >/dev/null 2>&1
  fi
  [ "${HALO_E2E_KEEP:-0}" = 1 ] || stop_dockerd
  rm -rf "$WORK" ${APT_V2:+"$APT_V2"}
  local r
  for r in "${RESULTS[@]}"; do log "$r"; done
  [ "$rc" != 0 ] || [ "$FAILED" = 0 ] || rc=1
  if [ "$rc" = 0 ]; then log "PASS: the compose journey, $(($(date +%s) - T0)) s in all"; else log "FAILED after $(($(date +%s) - T0)) s (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what the journeys need -----------------------------------------------------------

[ "$(id -u)" = 0 ] || die "run as root: it installs packages and may start dockerd"

apt_install() {
  log "installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; a CI run has just updated them.
  apt-cache show "$1" >/dev/null 2>&1 || apt-get update -q >"$WORK/apt.log" 2>&1
  apt-get install -y -q --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get install $* failed"; }
}

# The mirror this machine's apt already uses for bookworm (or HALO_E2E_DEBIAN_MIRROR).
debian_mirror() {
  local mirror=${HALO_E2E_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    # shellcheck disable=SC2016 # $(SITE) is apt's placeholder, not the shell's
    mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" { print $1; exit }')
  fi
  [ -n "$mirror" ] || die "no Debian bookworm mirror in apt's sources: set HALO_E2E_DEBIAN_MIRROR"
  echo "$mirror"
}

command -v dockerd >/dev/null || apt_install docker.io
command -v iptables-save >/dev/null || apt_install iptables

start_dockerd() {
  if timeout 10 docker info >/dev/null 2>&1; then
    log "using the running Docker engine"
    return
  fi
  log "no Docker engine runs: starting dockerd"
  iptables-save >"$WORK/iptables.before" 2>/dev/null || true
  ! ip link show docker0 >/dev/null 2>&1 || touch "$WORK/docker0.existed"
  # In a session of its own: a Ctrl-C to this script's process group would stop dockerd
  # too, before the teardown could remove the containers.
  setsid dockerd >"$WORK/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  STARTED_DOCKERD=1
  local _
  for _ in $(seq 1 60); do
    if timeout 5 docker info >/dev/null 2>&1; then return; fi
    kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -20 "$WORK/dockerd.log"; die "dockerd exited"; }
    sleep 0.5
  done
  tail -20 "$WORK/dockerd.log"
  die "dockerd did not answer within 30 s"
}
start_dockerd

# A local stand-in for the public node:20-bookworm-slim (see the header).
seed_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE: present"
    return
  fi
  if [ "${HALO_E2E_PULL:-0}" = 1 ]; then
    log "pulling $BASE_IMAGE"
    timeout 600 docker pull "$BASE_IMAGE" && return
    log "pull failed: seeding a stand-in instead"
  fi
  local t=$(($(date +%s) - T0))
  command -v debootstrap >/dev/null || apt_install debootstrap
  local mirror
  mirror=$(debian_mirror)
  local node_bin prefix npm_dir version
  node_bin=$(readlink -f "$(command -v node)")
  version=$(node --version)
  case "$version" in v20.*) ;; *) die "the stand-in needs this machine's Node.js 20, found $version" ;; esac
  prefix=$(dirname "$(dirname "$node_bin")")
  npm_dir="$(npm root -g)/npm"
  [ -f "$prefix/include/node/node.h" ] || die "Node's headers are not in $prefix/include/node: raw-socket cannot be built"
  [ -f "$npm_dir/bin/npm-cli.js" ] || die "npm is not in $npm_dir"
  log "seeding $BASE_IMAGE: debootstrap bookworm (minbase) + this machine's Node.js $version"
  local rootfs="$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
    tail -20 "$WORK/debootstrap.log"
    die "debootstrap failed"
  }
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
  install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  # npm's builtin config is this machine's (its paths, its CA file), not the image's.
  rm -f "$rootfs/usr/local/lib/node_modules/npm/npmrc"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  cp -a "$prefix/include/node" "$rootfs/usr/local/include/node"
  local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change "ENV NODE_VERSION=${version#v}" --change 'CMD ["node"]')
  # Certificate authorities this machine added locally (a TLS-inspecting proxy's, say):
  # without them npm inside the build could not reach the registry this machine reaches.
  local extra
  extra=$(find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | sort)
  if [ -n "$extra" ]; then
    mkdir -p "$rootfs/usr/local/share/halo-stand-in"
    # shellcheck disable=SC2086
    cat $extra >"$rootfs/usr/local/share/halo-stand-in/extra-ca.pem"
    changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/halo-stand-in/extra-ca.pem')
  fi
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$rootfs" -c . | docker import "${changes[@]}" --message "halo e2e stand-in for $BASE_IMAGE: debootstrap bookworm minbase + Node.js $version" - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "seeded $BASE_IMAGE in $(($(date +%s) - T0 - t)) s"
}
seed_base_image

# Compose v2 from Debian trixie's docker-compose package (see the header). Returns
# non-zero, with the reason logged, when it cannot; the v1 run goes on regardless.
PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose
install_compose_v2() {
  docker compose version >/dev/null 2>&1 && return 0
  local t=$SECONDS mirror
  mirror=$(debian_mirror)
  log "no \`docker compose\`: fetching Debian trixie's docker-compose (v2) from $mirror"
  mkdir -p "$APT_V2/lists/partial" "$APT_V2/cache/archives/partial" "$APT_V2/deb"
  chown _apt "$APT_V2/deb" 2>/dev/null || true
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$APT_V2/sources.list"
  local apt=(-q -o Dir::Etc::SourceList="$APT_V2/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$APT_V2/lists" -o Dir::Cache="$APT_V2/cache")
  # An InRelease whose signature does not verify against the keyring fails here (exit 100).
  timeout 300 apt-get "${apt[@]}" update >"$APT_V2/apt.log" 2>&1 || {
    tail -5 "$APT_V2/apt.log"
    log "apt-get update of trixie failed (unreachable, or its signature did not verify)"
    return 1
  }
  (cd "$APT_V2/deb" && timeout 300 apt-get "${apt[@]}" download docker-compose/trixie) >>"$APT_V2/apt.log" 2>&1 || {
    tail -5 "$APT_V2/apt.log"
    log "apt-get download docker-compose/trixie failed"
    return 1
  }
  local deb version want got
  deb=$(find "$APT_V2/deb" -name 'docker-compose_*.deb' | head -1)
  version=$(dpkg-deb -f "$deb" Version)
  # apt has checked this already (InRelease -> Packages -> .deb); once more, visibly.
  want=$(apt-cache "${apt[@]}" show "docker-compose=$version" 2>/dev/null | sed -n 's/^SHA256: //p' | head -1)
  got=$(sha256sum <"$deb" | cut -d' ' -f1)
  if [ -z "$want" ] || [ "$want" != "$got" ]; then
    log "docker-compose $version: SHA256 $got, trixie's signed index says ${want:-nothing}"
    return 1
  fi
  dpkg-deb -x "$deb" "$APT_V2/root"
  install -D -m 0755 "$APT_V2/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN"
  local short
  short=$(docker compose version --short 2>/dev/null) || short=
  case "$short" in
    2.*) ;;
    *)
      log "the plugin from docker-compose $version does not run here ($(docker compose version 2>&1 | head -1)); it needs libc6 >= 2.34: removing it"
      rm -f "$PLUGIN"
      return 1
      ;;
  esac
  log "installed $PLUGIN from Debian's docker-compose $version (SHA256 ${got:0:16}...) in $((SECONDS - t)) s: $(docker compose version)"
}

# A fresh cluster key for this run, handed in as the compose secret. Mode 0644, as git
# checks out the demo key: halo refuses such a file, so this proves the containers'
# entrypoint makes the 0600 copy halo reads (docker-compose.yml).
head -c 32 /dev/urandom | base64 >"$WORK/cluster.key"
chmod 0644 "$WORK/cluster.key"
export HALO_CLUSTER_KEY_FILE="$WORK/cluster.key"

# --- helpers on logs ------------------------------------------------------------------

# A service's container, found the same way with v1 and v2, whose names differ
# (halo-e2e_lb1_1, halo-e2e-lb1-1); -a as v2's ps lists running containers only. Kept
# for the run (kill and start keep the container): a docker-compose 1.29 call takes a
# second or more on a busy machine, and the waits below ask every 0.5 s.
cid() {
  local f="$RUN/cid.$1"
  [ -s "$f" ] || "${COMPOSE[@]}" ps -a -q "$1" >"$f"
  cat "$f"
}
# A service's log (stdout and stderr), optionally only since a unix time.
svc_logs() {
  local id
  id=$(cid "$1")
  [ -n "$id" ] || return 0
  if [ -n "${2:-}" ]; then docker logs --since "$2" "$id" 2>&1; else docker logs "$id" 2>&1; fi
}
# poll SECONDS COMMAND...: every 0.5 s until COMMAND succeeds; non-zero if it never does.
poll() {
  local seconds=$1 _
  shift
  for _ in $(seq 1 $((seconds * 2))); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  return 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: poll, or fail the run.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  poll "$seconds" "$@" || die "$what: not within $seconds s"
}
is_master() { svc_logs "$1" "${2:-}" | grep -q 'state_change.*state=MASTER'; }
# The client's lines from line $1 on.
client_since() { svc_logs client | tail -n +"$1"; }
client_lines() { svc_logs client | wc -l; }
# The backend in the client's last "answered by NODE (backend B)" line from line $2 on, when NODE is $1.
last_answer_by() {
  client_since "$2" | grep -o 'answered by [^ ]* (backend [^)]*)' | tail -1 | sed -n "s/^answered by $1 (backend \(.*\))\$/\1/p"
}
answered_by() { [ -n "$(last_answer_by "$1" "$2")" ]; }
has_synced() { svc_logs "$1" | grep -q tables_synced; }
printed_outage() { client_since "$1" | grep -q '^.* outage [0-9]*: '; }
via_vip() {
  timeout 20 "${COMPOSE[@]}" exec -T "$1" node -e '
    require("node:http").get("http://10.77.0.100/", { agent: false }, (r) => { r.resume(); console.log(r.headers["x-backend"] ?? "?"); })
      .on("error", (e) => { console.log("error:" + e.code); process.exitCode = 1; });'
}

# --- one journey ----------------------------------------------------------------------

# Runs in a subshell of its own (see below): `die` ends that run only, and its EXIT trap
# tears the project down.
UP=0
KEEP_THIS=0
dump_logs() {
  local svc
  for svc in lb1 lb2 client; do
    echo "----- last lines of $svc -----"
    "${COMPOSE[@]}" logs --no-color --tail 40 "$svc" 2>&1 || true
  done
}
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$UP" = 1 ]; then
    [ "$rc" = 0 ] || dump_logs
    if [ "$KEEP_THIS" = 1 ]; then
      log "HALO_E2E_KEEP=1: leaving project $PROJECT up (${COMPOSE[*]} down -v to remove)"
    else
      log "tearing down"
      timeout 120 "${COMPOSE[@]}" down -v --remove-orphans -t 5 >"$RUN/down.log" 2>&1 || { log "compose down failed:"; tail -5 "$RUN/down.log"; }
    fi
  fi
  exit "$rc"
}

journey() {
  trap teardown EXIT
  trap 'exit 130' INT TERM
  if docker network ls --format '{{.Name}}' | grep -qx "${PROJECT}_halo"; then
    log "a previous run's project is still there: removing it"
    timeout 120 "${COMPOSE[@]}" down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
  fi
  # Another project on the demo subnet (a user's own `docker compose up`) would clash.
  local net
  for net in $(docker network ls -q); do
    if docker network inspect "$net" --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null | grep -q '10\.77\.0\.0/24'; then
      die "network $(docker network inspect "$net" --format '{{.Name}}') already uses 10.77.0.0/24: bring that project down first"
    fi
  done

  # The client comes last, once lb1 is master and two other clients have been served, so
  # that lb1's rotation has moved on: the probe client then sits on a backend that a node
  # without lb1's table would not give it (a fresh rotation starts where the first of the
  # other two landed). That is what makes "same backend after the failover" mean something.
  local build=(--build) t
  if [ -e "$WORK/built" ]; then
    build=()
    log "up -d, re-using halo:local as $(cat "$WORK/built") built it from this tree (the pair and the backends; the client once lb1 is master)"
  else
    log "up -d --build (the pair and the backends; the client once lb1 is master)"
  fi
  t=$(date +%s)
  UP=1
  touch "$WORK/was-up"
  timeout 900 "${COMPOSE[@]}" up -d "${build[@]}" lb1 lb2 be1 be2 be3 >"$RUN/up.log" 2>&1 || {
    tail -30 "$RUN/up.log"
    die "compose up failed"
  }
  [ -e "$WORK/built" ] || echo "$FLAVOUR" >"$WORK/built"
  log "${build[*]:+built and }started in $(($(date +%s) - t)) s"

  wait_for 60 "lb1 becomes MASTER" is_master lb1
  wait_for 60 "lb2 has lb1's tables (tables_synced)" has_synced lb2
  local FRESH OTHER BACKEND FROM KILLED_AT KILLED_MS OUTAGE OUTAGE_MS AFTER SINCE LB1 SYNCED MASTER BACK FIRST
  FRESH=$(via_vip be1) || die "be1 could not reach the VIP: $FRESH"
  OTHER=$(via_vip be2) || die "be2 could not reach the VIP: $OTHER"
  log "two other clients first: be1's address was sent to $FRESH, be2's to $OTHER"

  # --no-recreate: Compose v2 (2.26) builds the shared image once per service, so each
  # container's com.docker.compose.image label names another build than halo:local, and a
  # plain `up -d client` would recreate the whole running pair (lb1's rotation with it).
  timeout 120 "${COMPOSE[@]}" up -d --no-recreate client >>"$RUN/up.log" 2>&1 || {
    tail -30 "$RUN/up.log"
    die "compose up client failed"
  }
  wait_for 30 "the client is served by lb1" answered_by lb1 1
  BACKEND=$(last_answer_by lb1 1)
  log "lb1 is MASTER and serves the client through backend $BACKEND"
  [ "$BACKEND" != "$FRESH" ] || die "the client landed on $FRESH, where a fresh rotation would put it too: persistence could not be told apart"
  # A few more answers, so the client's persistence entry has surely reached lb2.
  sleep 2
  [ -n "$(last_answer_by lb1 1)" ] || die "the client moved off lb1 before any failure"

  FROM=$(($(client_lines) + 1))
  KILLED_AT=$(date +%s)
  log "kill lb1 (SIGKILL: no handover)"
  timeout 30 "${COMPOSE[@]}" kill lb1 >/dev/null 2>&1
  wait_for 20 "lb2 serves the client" answered_by lb2 "$FROM"
  # The client prints an outage line just before the answer that ends it.
  if poll 3 printed_outage "$FROM"; then
    OUTAGE=$(client_since "$FROM" | grep ' outage [0-9]*: ' | head -1)
    log "client: ${OUTAGE#* }"
    OUTAGE_MS=$(sed -n 's/.*outage [0-9]*: at [0-9]* ms, \([0-9]*\) ms,.*/\1/p' <<<"$OUTAGE")
    [ -n "$OUTAGE_MS" ] || die "cannot read the outage's length from: $OUTAGE"
    grep -q " -> lb2/$BACKEND\$" <<<"$OUTAGE" || die "the outage did not end on lb2/$BACKEND: $OUTAGE"
  else
    # No attempt failed (none started in the short gap), so no outage line. Then the
    # bound is the time from lb1's death to the line of lb2's first answer, which the
    # client prints some 0.7 s after that attempt began (its timeout, 2 intervals).
    # The client's clock is the host's, printed as UTC HH:MM:SS.mmm.
    FIRST=$(client_since "$FROM" | grep -m1 'answered by lb2 ' | cut -d' ' -f1)
    [[ "$FIRST" =~ ^([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})$ ]] || die "cannot read the time of lb2's first answer: $FIRST"
    KILLED_MS=$(date -u -d "$(docker inspect -f '{{.State.FinishedAt}}' "$(cid lb1)")" +%s%3N) || die "cannot read when lb1 died"
    OUTAGE_MS=$(((((10#${BASH_REMATCH[1]} * 60 + 10#${BASH_REMATCH[2]}) * 60 + 10#${BASH_REMATCH[3]}) * 1000 + 10#${BASH_REMATCH[4]} - KILLED_MS % 86400000 + 86400000) % 86400000))
    log "client: no attempt failed, so no outage line; it printed lb2's first answer $OUTAGE_MS ms after lb1 died"
  fi
  [ "$OUTAGE_MS" -le "$MAX_OUTAGE_MS" ] || die "outage of $OUTAGE_MS ms, more than $MAX_OUTAGE_MS ms"
  AFTER=$(last_answer_by lb2 "$FROM")
  [ "$AFTER" = "$BACKEND" ] || die "persistence lost: $BACKEND before the failover, $AFTER after"
  svc_logs lb2 "$KILLED_AT" | grep -m1 ' takeover ' | sed 's/^/  lb2: /' || true
  log "lb2 took over after ${FIRST:+at most }${OUTAGE_MS} ms; the client kept backend $BACKEND"

  FROM=$(($(client_lines) + 1))
  SINCE=$(date +%s)
  log "start lb1"
  timeout 60 "${COMPOSE[@]}" start lb1 >/dev/null 2>&1
  wait_for 60 "lb1 becomes MASTER again" is_master lb1 "$SINCE"
  LB1=$(svc_logs lb1 "$SINCE")
  SYNCED=$(grep -n 'tables_synced' <<<"$LB1" | head -1 | cut -d: -f1)
  MASTER=$(grep -n 'state_change.*state=MASTER' <<<"$LB1" | head -1 | cut -d: -f1)
  [ -n "$SYNCED" ] || die "lb1 became MASTER without logging tables_synced"
  [ "$SYNCED" -lt "$MASTER" ] || die "lb1 became MASTER (log line $MASTER) before tables_synced (line $SYNCED)"
  grep -E 'tables_synced|state_change' <<<"$LB1" | sed 's/^/  lb1: /'
  wait_for 20 "lb1 serves the client again" answered_by lb1 "$FROM"
  BACK=$(last_answer_by lb1 "$FROM")
  [ "$BACK" = "$BACKEND" ] || die "persistence lost on the way back: $BACKEND before, $BACK after"
  log "lb1 resynced, took the VIP back, and the client still reaches $BACKEND"

  echo "----- what the client printed -----"
  svc_logs client
}

# --- the runs -------------------------------------------------------------------------

if [ -n "${HALO_E2E_COMPOSE:-}" ]; then
  FLAVOURS=("$HALO_E2E_COMPOSE")
else
  FLAVOURS=("docker compose" docker-compose)
fi
for i in "${!FLAVOURS[@]}"; do
  flavour=${FLAVOURS[$i]}
  FLAVOUR=$flavour
  TAG=
  case "$flavour" in
    "docker compose")
      # Not in $WORK (mode 0700): apt's unprivileged _apt user downloads into it.
      APT_V2=$(mktemp -d /tmp/halo-compose-v2.XXXXXX)
      chmod 0755 "$APT_V2"
      set +e
      (
        set -e
        install_compose_v2
      )
      rc=$?
      set -e
      rm -rf "$APT_V2"
      APT_V2=
      if [ "$rc" != 0 ]; then
        RESULTS+=("FAIL  docker compose: not available (Debian trixie's docker-compose could not be installed)")
        FAILED=1
        continue
      fi
      ;;
    docker-compose)
      command -v docker-compose >/dev/null || (apt_install docker-compose) || true
      if ! command -v docker-compose >/dev/null; then
        RESULTS+=("FAIL  docker-compose: not available (apt-get install docker-compose failed)")
        FAILED=1
        continue
      fi
      ;;
  esac
  read -r -a COMPOSE <<<"$flavour"
  version=$("${COMPOSE[@]}" version --short 2>/dev/null) || version=
  if [ -z "$version" ]; then
    RESULTS+=("FAIL  $flavour: \`$flavour version --short\` does not answer")
    FAILED=1
    continue
  fi
  TAG="v${version%%.*}"
  COMPOSE+=(-p "$PROJECT" -f docker-compose.yml)
  RUN="$WORK/run$i"
  mkdir -p "$RUN"
  KEEP_THIS=0
  if [ "${HALO_E2E_KEEP:-0}" = 1 ] && [ "$i" = $((${#FLAVOURS[@]} - 1)) ]; then KEEP_THIS=1; fi
  log "=== the journey with $flavour, version $version ==="
  t=$(date +%s)
  set +e
  (
    set -e
    journey
  )
  rc=$?
  set -e
  [ "$rc" != 130 ] || exit 130
  if [ "$rc" = 0 ]; then
    RESULTS+=("PASS  $flavour $version ($(($(date +%s) - t)) s)")
  else
    RESULTS+=("FAIL  $flavour $version ($(($(date +%s) - t)) s, exit $rc)")
    FAILED=1
  fi
  log "=== $flavour $version: $([ "$rc" = 0 ] && echo PASS || echo FAIL) in $(($(date +%s) - t)) s ==="
done
TAG=
