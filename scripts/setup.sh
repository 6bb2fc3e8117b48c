#!/usr/bin/env bash
# Sets up a Debian 12 machine for Sutradhar, idempotently. Run as root:
#   sudo scripts/setup.sh
#
# 1. installs the Debian packages Sutradhar needs (nix, libgit2, a rootless Docker daemon);
# 2. creates the unprivileged user that runs pipelines (default: sutradhar; SUTRADHAR_USER=NAME);
# 3. starts nix-daemon (so that user builds through NIX_REMOTE=daemon);
# 4. starts a rootless dockerd for that user, unless one already answers on its socket;
# 5. makes the virtual environment with the Python MCP client the MCP tests drive `sutradhar mcp`
#    with (SUTRADHAR_VENV, default /opt/sutradhar-venv; pip needs PyPI once).
#
# openssh-server is there for scripts/second-host.sh (a second nix host in namespaces, for the
# remote-builder and binary-cache tests), which runs its own sshd with its own config; note that on
# a systemd machine Debian's package also enables the host's ssh service, as it always does.
#
# Root is needed only here. Everything Sutradhar itself does runs as the user.
# At the end it prints the environment that user needs (DOCKER_HOST, NIX_REMOTE).
set -euo pipefail

RUN_USER="${SUTRADHAR_USER:-sutradhar}"
PACKAGES=(nix-bin libgit2-dev pkg-config docker.io rootlesskit uidmap slirp4netns
          busybox-static curl git gzip tar procps iproute2 zlib1g-dev libsqlite3-dev time jq bsdutils
          python3 python3-venv openssh-server)

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

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

start_nix_daemon() {
    if pgrep -x nix-daemon >/dev/null; then
        say "nix-daemon: running"
        return
    fi
    say "nix-daemon: starting"
    mkdir -p /nix/var/log
    nohup /usr/bin/nix-daemon >/nix/var/log/nix-daemon.log 2>&1 &
    for _ in $(seq 1 50); do
        [ -S /nix/var/nix/daemon-socket/socket ] && return
        sleep 0.2
    done
    die "nix-daemon did not open its socket; see /nix/var/log/nix-daemon.log"
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

# The MCP tests' external client: the official Python `mcp` package (2.x), in a venv of its own.
install_mcp_client() {
    local venv="${SUTRADHAR_VENV:-/opt/sutradhar-venv}"
    if "$venv/bin/python3" -c 'import mcp' 2>/dev/null; then
        say "mcp client: present in $venv"
        return
    fi
    say "mcp client: installing the Python mcp package into $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'mcp>=2,<3' >&2 || die "pip could not install mcp into $venv (is PyPI reachable?)"
}

install_packages
create_user
start_nix_daemon
start_rootless_docker
install_mcp_client

uid="$(id -u "$RUN_USER")"
cat <<EOF
# Environment for $RUN_USER (and for tests run as root against the same daemon):
export SUTRADHAR_USER=$RUN_USER
export DOCKER_HOST=unix:///run/user/$uid/docker.sock
export NIX_REMOTE=daemon
EOF
