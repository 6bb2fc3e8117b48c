#!/usr/bin/env bash
# Sets up a Debian 12 machine for Sutradhar, idempotently. Run as root:
#   sudo scripts/setup.sh
#
# 1. installs the Debian packages Sutradhar needs (nix, libgit2, a rootless Docker daemon);
# 2. creates the unprivileged user that runs pipelines (default: sutradhar; SUTRADHAR_USER=NAME);
# 3. starts nix-daemon (so that user builds through NIX_REMOTE=daemon);
# 4. starts a rootless dockerd for that user, unless one already answers on its socket;
#    and, the same way, a rootless Podman API service (`podman system service --time 0`) on
#    $XDG_RUNTIME_DIR/podman/podman.sock; SUTRADHAR_ENGINE=podman points DOCKER_HOST at Podman;
# 5. makes the virtual environment with the Python MCP client the MCP tests drive `sutradhar mcp`
#    with (SUTRADHAR_VENV, default /opt/sutradhar-venv; pip needs PyPI once), kubernetes-validate,
#    which the Kubernetes tests check rendered manifests with, selenium, which drives Debian's
#    chromium (through chromium-driver) in the dashboard's browser test, and the attestation
#    verifiers (securesystemslib, in-toto-attestation, jsonschema, cyclonedx-python-lib).
#
# openssh-server is there for scripts/second-host.sh (a second nix host in namespaces, for the
# remote-builder and binary-cache tests), which runs its own sshd with its own config; note that on
# a systemd machine Debian's package also enables the host's ssh service, as it always does.
#
# Root is needed only here. Everything Sutradhar itself does runs as the user.
# At the end it prints the environment that user needs (DOCKER_HOST, NIX_REMOTE), and
# SUTRADHAR_PODMAN_HOST (the Podman socket, which the tests' second engine pass uses).
set -euo pipefail

RUN_USER="${SUTRADHAR_USER:-sutradhar}"
ENGINE="${SUTRADHAR_ENGINE:-docker}"
PACKAGES=(nix-bin libgit2-dev pkg-config docker.io rootlesskit uidmap slirp4netns
          busybox-static curl git gzip tar procps iproute2 zlib1g-dev libsqlite3-dev libcurl4-openssl-dev time jq bsdutils
          python3 python3-venv openssh-server podman catatonit chromium chromium-driver
          diffoscope-minimal)

LOG_PREFIX=setup
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0): I install packages and add a user"

install_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "packages: all present"
        return
    fi
    say "packages: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

create_user() {
    if ! id "$RUN_USER" >/dev/null 2>&1; then
        say "user: creating $RUN_USER"
        useradd -m -s /bin/bash "$RUN_USER"
    fi
    # Rootless Docker maps container users through these ranges.
    grep -q "^$RUN_USER:" /etc/subuid || echo "$RUN_USER:200000:65536" >>/etc/subuid
    grep -q "^$RUN_USER:" /etc/subgid || echo "$RUN_USER:200000:65536" >>/etc/subgid
    getent group nix-users >/dev/null && usermod -aG nix-users "$RUN_USER"
    say "user: $RUN_USER (uid $(id -u "$RUN_USER"))"
}

# nix-daemon takes some settings only from its trusted users (Nix 2.8): `builders` among them,
# and a substituter only if nix.conf lists it in trusted-substituters, with its key in
# trusted-public-keys. Both are opt-in, because both change what the pipeline user may do
# (README, "Beyond one machine"):
#   SUTRADHAR_NIX_TRUSTED=1                  adds the user to trusted-users (root-equivalent in nix);
#   SUTRADHAR_NIX_SUBSTITUTER=URI SUTRADHAR_NIX_SUBSTITUTER_KEY=NAME:KEY
#                                            lets any user use that binary cache, signed by that key.
# nix-daemon reads nix.conf when it starts: restart it after a change (this script says so).
configure_nix_trust() {
    local conf="${SUTRADHAR_NIX_CONF:-/etc/nix/nix.conf}" changed=""
    mkdir -p /etc/nix
    touch "$conf"
    add_setting() {  # NAME VALUE: appends VALUE to the setting NAME unless it is there already
        local line
        line="$(grep -E "^$1 *=" "$conf" | tail -n 1 || true)"
        case " ${line#*=} " in *" $2 "*) return ;; esac
        if [ -n "$line" ]; then
            sed -i "s|^$1 *=\(.*\)\$|$1 =\1 $2|" "$conf"
        else
            echo "$1 = $([ "$1" = trusted-users ] && echo "root ")$2" >>"$conf"
        fi
        changed=1
        say "nix: $1 += $2 in $conf"
    }
    [ "${SUTRADHAR_NIX_TRUSTED:-0}" = 1 ] && add_setting trusted-users "$RUN_USER"
    if [ -n "${SUTRADHAR_NIX_SUBSTITUTER:-}" ]; then
        [ -n "${SUTRADHAR_NIX_SUBSTITUTER_KEY:-}" ] || die "SUTRADHAR_NIX_SUBSTITUTER needs SUTRADHAR_NIX_SUBSTITUTER_KEY (NAME:BASE64)"
        add_setting extra-trusted-substituters "$SUTRADHAR_NIX_SUBSTITUTER"
        add_setting extra-trusted-public-keys "$SUTRADHAR_NIX_SUBSTITUTER_KEY"
    fi
    if [ -n "$changed" ] && nix_daemon_answers; then
        say "nix: restart nix-daemon for the change to take effect (it reads $conf when it starts)"
    fi
    return 0
}

# Whether this machine's nix-daemon accepts connections on its socket (a process named nix-daemon
# may be another one: the second host of scripts/second-host.sh runs its own in a namespace).
nix_daemon_answers() {
    python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1])' \
        /nix/var/nix/daemon-socket/socket 2>/dev/null
}

start_nix_daemon() {
    if nix_daemon_answers; then
        say "nix-daemon: running"
        return
    fi
    say "nix-daemon: starting"
    mkdir -p /nix/var/log
    # Not as a client of itself, should this shell have NIX_REMOTE=daemon from an earlier set-up.
    env -u NIX_REMOTE nohup /usr/bin/nix-daemon >/nix/var/log/nix-daemon.log 2>&1 </dev/null &
    for _ in $(seq 1 50); do
        nix_daemon_answers && return
        sleep 0.2
    done
    die "nix-daemon does not answer on its socket; see /nix/var/log/nix-daemon.log"
}

docker_answers() {
    curl -fsS --max-time 3 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1
}

start_rootless_docker() {
    local uid runtime_dir socket log
    uid="$(id -u "$RUN_USER")"
    runtime_dir="/run/user/$uid"
    socket="$runtime_dir/docker.sock"
    if docker_answers "$socket"; then
        say "rootless docker: answering on $socket"
        return
    fi
    # slirp4netns opens the tun device as the user; Debian leaves it 0600.
    [ -c /dev/net/tun ] || { mkdir -p /dev/net; mknod /dev/net/tun c 10 200; }
    chmod 666 /dev/net/tun
    mkdir -p "$runtime_dir"
    chown "$RUN_USER:" "$runtime_dir"
    chmod 700 "$runtime_dir"
    log="$(getent passwd "$RUN_USER" | cut -d: -f6)/dockerd-rootless.log"
    say "rootless docker: starting for $RUN_USER (log: $log)"
    su -s /bin/sh "$RUN_USER" -c "
        export XDG_RUNTIME_DIR='$runtime_dir'
        export PATH=/usr/share/docker.io/contrib:/usr/sbin:/usr/bin:/sbin:/bin
        export HOME=\$(getent passwd '$RUN_USER' | cut -d: -f6)
        cd \"\$HOME\"
        nohup setsid dockerd-rootless.sh >'$log' 2>&1 </dev/null &
    "
    for _ in $(seq 1 120); do
        docker_answers "$socket" && { say "rootless docker: answering on $socket"; return; }
        sleep 0.5
    done
    tail -n 30 "$log" >&2 || true
    die "the rootless daemon did not answer on $socket within 60 s (log above)"
}

# Podman's Docker-compatible API as the same user. Without `--time 0` the service exits after 5
# idle seconds. catatonit is Podman's init (the hardened create asks for one).
start_rootless_podman() {
    local uid runtime_dir socket log
    uid="$(id -u "$RUN_USER")"
    runtime_dir="/run/user/$uid"
    socket="$runtime_dir/podman/podman.sock"
    if docker_answers "$socket"; then
        say "rootless podman: answering on $socket"
        return
    fi
    mkdir -p "$runtime_dir"
    chown "$RUN_USER:" "$runtime_dir"
    chmod 700 "$runtime_dir"
    log="$(getent passwd "$RUN_USER" | cut -d: -f6)/podman-service.log"
    say "rootless podman: starting for $RUN_USER (log: $log)"
    su -s /bin/sh "$RUN_USER" -c "
        export XDG_RUNTIME_DIR='$runtime_dir'
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin
        export HOME=\$(getent passwd '$RUN_USER' | cut -d: -f6)
        cd \"\$HOME\"
        mkdir -p '$runtime_dir/podman'
        nohup setsid podman system service --time 0 'unix://$socket' >'$log' 2>&1 </dev/null &
    "
    for _ in $(seq 1 120); do
        docker_answers "$socket" && { say "rootless podman: answering on $socket"; return; }
        sleep 0.5
    done
    tail -n 30 "$log" >&2 || true
    die "the rootless podman service did not answer on $socket within 60 s (log above)"
}

# The Python tools the tests drive Sutradhar with, in a venv of their own: the official MCP client
# (`mcp` 2.x, for `sutradhar mcp`), kubernetes-validate (checks `kube render`'s manifests offline
# against each Kubernetes release's schemas; pinned, as a later release may drop the 1.28 schemas)
# selenium (drives headless chromium in the dashboard's browser test) and the independent
# verifiers of attestations: securesystemslib (DSSE), in-toto-attestation and jsonschema (statement
# shape), cyclonedx-python-lib (the SBOM against the CycloneDX 1.5 schema); opentelemetry-proto
# decodes the OTLP/HTTP requests the trace tests' loopback receiver gets.
install_python_tools() {
    local venv="${SUTRADHAR_VENV:-/opt/sutradhar-venv}"
    if "$venv/bin/python3" -c 'import mcp, kubernetes_validate, selenium, securesystemslib, in_toto_attestation, jsonschema, cyclonedx, opentelemetry.proto' 2>/dev/null; then
        say "python tools: mcp, kubernetes-validate, selenium and the attestation verifiers present in $venv"
        return
    fi
    [ -x "$venv/bin/pip" ] || /usr/bin/python3 -m venv "$venv"
    say "python tools: installing mcp, kubernetes-validate, selenium and the attestation verifiers into $venv"
    "$venv/bin/pip" install --quiet 'mcp>=2,<3' 'kubernetes-validate==1.37.0' 'selenium>=4.20,<5' \
        'securesystemslib>=1.6,<2' 'in-toto-attestation==0.9.3' 'jsonschema>=4.20,<5' 'cyclonedx-python-lib>=11,<12' \
        'opentelemetry-proto>=1.45,<2' >&2 \
        || die "pip could not install the Python tools into $venv (is PyPI reachable?)"
}

install_packages
create_user
configure_nix_trust
start_nix_daemon
case "$ENGINE" in
    docker|podman) ;;
    *) die "SUTRADHAR_ENGINE is '$ENGINE'; it must be docker or podman" ;;
esac
start_rootless_docker
start_rootless_podman
install_python_tools

uid="$(id -u "$RUN_USER")"
podman_host="unix:///run/user/$uid/podman/podman.sock"
if [ "$ENGINE" = podman ]; then docker_host="$podman_host"; else docker_host="unix:///run/user/$uid/docker.sock"; fi
cat <<EOF
# Environment for $RUN_USER (and for tests run as root against the same daemon):
export SUTRADHAR_USER=$RUN_USER
export DOCKER_HOST=$docker_host
export SUTRADHAR_PODMAN_HOST=$podman_host
export NIX_REMOTE=daemon
EOF
