#!/usr/bin/env bash
# The docker compose journey of the README, end to end, as root:
#   up -d --build -> lb1 is MASTER and serves the client -> kill lb1 -> lb2 serves the
#   client after a short outage, same backend (persistence) -> start lb1 -> lb1 logs
#   tables_synced, then takes the VIP back.
#
# It brings what it needs: docker.io and docker-compose from Debian when missing, a
# dockerd when none runs (stopped again at the end, with the firewall rules it added),
# and node:20-bookworm-slim when the image is absent. Machines that reach no image
# registry (this project's CI) get a local stand-in for that public image: Debian
# bookworm from debootstrap (minbase) plus this machine's own Node.js 20 and npm, laid
# out where the public image has them (/usr/local). HALO_E2E_PULL=1 pulls the real one.
#
# Everything is torn down on exit, also on failure, and every wait is bounded.
# Settings (environment): HALO_E2E_COMPOSE="docker compose"|docker-compose (default: the
# first that works), HALO_E2E_MAX_OUTAGE_MS (default 3000), HALO_E2E_DEBIAN_MIRROR,
# HALO_E2E_PULL, HALO_E2E_KEEP=1 (leave the containers up for a look; dockerd too).
set -euo pipefail

T0=$(date +%s)
cd "$(dirname "$0")/../.."
PROJECT=halo-e2e
BASE_IMAGE=node:20-bookworm-slim
MAX_OUTAGE_MS=${HALO_E2E_MAX_OUTAGE_MS:-3000}
WORK=$(mktemp -d /tmp/halo-compose-e2e.XXXXXX)
STARTED_DOCKERD=0
DOCKERD_PID=
COMPOSE=()
UP=0

log() { printf '[compose-e2e %3ds] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() {
  log "FAIL: $*"
  exit 1
}

# --- teardown -------------------------------------------------------------------------

dump_logs() {
  local svc
  for svc in lb1 lb2 client; do
    echo "----- last lines of $svc -----"
    "${COMPOSE[@]}" logs --no-color --tail 40 "$svc" 2>&1 || true
  done
}

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
  if [ "$UP" = 1 ]; then
    [ "$rc" = 0 ] || dump_logs
    if [ "${HALO_E2E_KEEP:-0}" = 1 ]; then
      log "HALO_E2E_KEEP=1: leaving project $PROJECT up (${COMPOSE[*]} -p $PROJECT down -v to remove)"
    else
      log "tearing down"
      timeout 120 "${COMPOSE[@]}" down -v --remove-orphans -t 5 >"$WORK/down.log" 2>&1 || { log "compose down failed:"; tail -5 "$WORK/down.log"; }
      # Each changed build leaves its predecessors untagged (~1.3 GB with the build
      # stage); this run's stay, as the next run's layer cache.
      timeout 120 docker image prune -f --filter until=1h >/dev/null 2>&1
    fi
  fi
  [ "${HALO_E2E_KEEP:-0}" = 1 ] || stop_dockerd
  rm -rf "$WORK"
  if [ "$rc" = 0 ]; then log "PASS: the compose journey, $(($(date +%s) - T0)) s in all"; else log "FAILED after $(($(date +%s) - T0)) s (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what the journey needs -----------------------------------------------------------

[ "$(id -u)" = 0 ] || die "run as root: it installs packages and may start dockerd"

apt_install() {
  log "installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; a CI run has just updated them.
  apt-cache show "$1" >/dev/null 2>&1 || apt-get update -q >"$WORK/apt.log" 2>&1
  apt-get install -y -q --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get install $* failed"; }
}

command -v dockerd >/dev/null || apt_install docker.io
if [ -z "${HALO_E2E_COMPOSE:-}" ] && ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  apt_install docker-compose
fi
command -v iptables-save >/dev/null || apt_install iptables

start_dockerd() {
  if timeout 10 docker info >/dev/null 2>&1; then
    log "using the running Docker engine"
    return
  fi
  log "no Docker engine runs: starting dockerd"
  iptables-save >"$WORK/iptables.before" 2>/dev/null || true
  ! ip link show docker0 >/dev/null 2>&1 || touch "$WORK/docker0.existed"
  dockerd >"$WORK/dockerd.log" 2>&1 &
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

if [ -n "${HALO_E2E_COMPOSE:-}" ]; then
  read -r -a COMPOSE <<<"$HALO_E2E_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  COMPOSE=(docker-compose)
fi
COMPOSE+=(-p "$PROJECT" -f docker-compose.yml)
log "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version 2>/dev/null | head -1))"

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
  local mirror=${HALO_E2E_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    # The mirror this machine's apt already uses for bookworm.
    # shellcheck disable=SC2016 # $(SITE) is apt's placeholder, not the shell's
    mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" { print $1; exit }')
  fi
  [ -n "$mirror" ] || die "no Debian bookworm mirror in apt's sources: set HALO_E2E_DEBIAN_MIRROR"
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

# A fresh cluster key for this run, handed in as the compose secret. Mode 0644, as git
# checks out the demo key: halo refuses such a file, so this proves the containers'
# entrypoint makes the 0600 copy halo reads (docker-compose.yml).
head -c 32 /dev/urandom | base64 >"$WORK/cluster.key"
chmod 0644 "$WORK/cluster.key"
export HALO_CLUSTER_KEY_FILE="$WORK/cluster.key"

# --- helpers on logs ------------------------------------------------------------------

cid() { "${COMPOSE[@]}" ps -q "$1"; }
# A service's log (stdout and stderr), optionally only since a unix time.
svc_logs() {
  local id
  id=$(cid "$1")
  [ -n "$id" ] || return 0
  if [ -n "${2:-}" ]; then docker logs --since "$2" "$id" 2>&1; else docker logs "$id" 2>&1; fi
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.5 s until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2 _
  shift 2
  for _ in $(seq 1 $((seconds * 2))); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  die "$what: not within $seconds s"
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

# --- the journey ----------------------------------------------------------------------

if docker network ls --format '{{.Name}}' | grep -qx "${PROJECT}_halo"; then
  log "a previous run's project is still there: removing it"
  timeout 120 "${COMPOSE[@]}" down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
fi
# Another project on the demo subnet (a user's own `docker compose up`) would clash.
for net in $(docker network ls -q); do
  if docker network inspect "$net" --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null | grep -q '10\.77\.0\.0/24'; then
    die "network $(docker network inspect "$net" --format '{{.Name}}') already uses 10.77.0.0/24: bring that project down first"
  fi
done

# The client comes last, once lb1 is master and two other clients have been served, so
# that lb1's rotation has moved on: the probe client then sits on a backend that a node
# without lb1's table would not give it (a fresh rotation starts where the first of the
# other two landed). That is what makes "same backend after the failover" mean something.
log "up -d --build (the pair and the backends; the client once lb1 is master)"
t=$(date +%s)
UP=1
timeout 900 "${COMPOSE[@]}" up -d --build lb1 lb2 be1 be2 be3 >"$WORK/up.log" 2>&1 || {
  tail -30 "$WORK/up.log"
  die "compose up failed"
}
log "built and started in $(($(date +%s) - t)) s"

wait_for 60 "lb1 becomes MASTER" is_master lb1
wait_for 60 "lb2 has lb1's tables (tables_synced)" bash -c "docker logs $(cid lb2) 2>&1 | grep -q tables_synced"
via_vip() {
  timeout 20 "${COMPOSE[@]}" exec -T "$1" node -e '
    require("node:http").get("http://10.77.0.100/", { agent: false }, (r) => { r.resume(); console.log(r.headers["x-backend"] ?? "?"); })
      .on("error", (e) => { console.log("error:" + e.code); process.exitCode = 1; });'
}
FRESH=$(via_vip be1) || die "be1 could not reach the VIP: $FRESH"
OTHER=$(via_vip be2) || die "be2 could not reach the VIP: $OTHER"
log "two other clients first: be1's address was sent to $FRESH, be2's to $OTHER"

timeout 120 "${COMPOSE[@]}" up -d client >>"$WORK/up.log" 2>&1 || {
  tail -30 "$WORK/up.log"
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
log "docker kill lb1 (SIGKILL: no handover)"
"${COMPOSE[@]}" kill lb1 >/dev/null 2>&1
wait_for 20 "lb2 serves the client" answered_by lb2 "$FROM"
wait_for 10 "the client prints the outage" bash -c "docker logs $(cid client) 2>&1 | tail -n +$FROM | grep -q '^.* outage [0-9]*: '"
OUTAGE=$(client_since "$FROM" | grep ' outage [0-9]*: ' | head -1)
log "client: ${OUTAGE#* }"
OUTAGE_MS=$(sed -n 's/.*outage [0-9]*: at [0-9]* ms, \([0-9]*\) ms,.*/\1/p' <<<"$OUTAGE")
[ -n "$OUTAGE_MS" ] || die "cannot read the outage's length from: $OUTAGE"
[ "$OUTAGE_MS" -le "$MAX_OUTAGE_MS" ] || die "outage of $OUTAGE_MS ms, more than $MAX_OUTAGE_MS ms"
grep -q " -> lb2/$BACKEND\$" <<<"$OUTAGE" || die "the outage did not end on lb2/$BACKEND: $OUTAGE"
AFTER=$(last_answer_by lb2 "$FROM")
[ "$AFTER" = "$BACKEND" ] || die "persistence lost: $BACKEND before the failover, $AFTER after"
svc_logs lb2 "$KILLED_AT" | grep -m1 ' takeover ' | sed 's/^/  lb2: /' || true
log "lb2 took over after ${OUTAGE_MS} ms; the client kept backend $BACKEND"

FROM=$(($(client_lines) + 1))
SINCE=$(date +%s)
log "docker start lb1"
"${COMPOSE[@]}" start lb1 >/dev/null 2>&1
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
