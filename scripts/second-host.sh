#!/usr/bin/env bash
# A second nix host on this machine, for the remote-builder and binary-cache tests and the
# scaling benchmark. Run as root:
#
#   scripts/second-host.sh start     # idempotent; prints the environment below
#   scripts/second-host.sh env       # prints SECOND_HOST_* for a running host (exit 3 if stopped)
#   scripts/second-host.sh status    # exit 0 when running, 3 when stopped
#   scripts/second-host.sh exec CMD… # runs CMD with the second host's /nix (its store and daemon)
#   scripts/second-host.sh stop      # idempotent; leaves nothing running (state folder kept)
#   scripts/second-host.sh wipe      # stop, then delete the state folder (keys and the second store)
#
# What "start" makes:
# - a network namespace ($SECOND_HOST_NETNS, default sutradhar-b) joined to this host by a veth
#   pair with private addresses: this side 10.231.0.1/30, the second host 10.231.0.2/30;
# - inside it, a mount namespace in which an empty folder ($STATE/nix) is bound over /nix. Debian's
#   nix lives in /usr, so that namespace has a separate, empty store; everything else (/usr, /bin,
#   /run/user/…/docker.sock) is the same machine's, but for /etc/nix/nix.conf (see make_keys);
# - in that namespace, sshd on 10.231.0.2:22 (root only, key only, its own config, host key and
#   authorized_keys in $STATE; the host's /etc/ssh is neither read nor changed) and a nix-daemon
#   serving the second store, so the pipeline user can build there too (`exec`).
# Keys are generated once into $STATE (default /var/lib/sutradhar/second-host): `client_key` is the
# private key a remote builder uses (root's, 0600: nix-daemon, running as root, opens the ssh
# connection), `host_key.pub` the second host's public host key (passed to nix base64-encoded, so no
# known_hosts file is touched). The only thing created outside $STATE and the namespaces is
# /run/sshd, the empty privilege-separation folder sshd insists on.
set -euo pipefail

STATE="${SECOND_HOST_STATE:-/var/lib/sutradhar/second-host}"
NETNS="${SECOND_HOST_NETNS:-sutradhar-b}"
VETH_A="${NETNS:0:9}-a"       # interface names are limited to 15 bytes
VETH_B="${NETNS:0:9}-b"
ADDR_A=10.231.0.1
ADDR_B=10.231.0.2

LOG_PREFIX=second-host
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run me as root: I make namespaces, bind mounts and run sshd"

# The PID in FILE when it is alive and its command line contains WORD, else nothing.
live_pid() {
    local file="$1" word="$2" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file" 2>/dev/null || true)"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$word" && echo "$pid"
    return 0
}

sshd_pid() { live_pid "$STATE/sshd.pid" sshd; }
daemon_pid() { live_pid "$STATE/nix-daemon.pid" nix-daemon; }

running() { [ -n "$(sshd_pid)" ] && [ -n "$(daemon_pid)" ]; }

ensure_tools() {
    local tool
    for tool in ip sshd ssh-keygen unshare nix-daemon; do
        command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] \
            || die "$tool is missing: run scripts/setup.sh (it installs openssh-server and iproute2)"
    done
}

make_keys() {
    mkdir -p "$STATE/nix"
    chmod 755 "$STATE" "$STATE/nix"
    [ -f "$STATE/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C sutradhar-second-host -f "$STATE/host_key"
    [ -f "$STATE/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C sutradhar-remote-builder -f "$STATE/client_key"
    chmod 600 "$STATE/host_key" "$STATE/client_key"
    cp "$STATE/client_key.pub" "$STATE/authorized_keys"
    chmod 644 "$STATE/authorized_keys"
    # The second store's nix.conf: this host's, except that builds run as root instead of as the
    # nixbld users (both daemons would otherwise hand out the same nixbld UIDs from separate user
    # pools, and nix kills every process of a build user before it uses it: each host would kill
    # the other's builds), and no default substituter (the namespace has no route out: nix would
    # spend seconds retrying cache.nixos.org; a pipeline's own `substituters:` still apply).
    { cat /etc/nix/nix.conf 2>/dev/null || true
      printf '\n# scripts/second-host.sh: see the script\nbuild-users-group =\nsubstituters =\n'
    } >"$STATE/nix.conf"
    cat >"$STATE/sshd_config" <<EOF
# Written by scripts/second-host.sh: the second host's sshd, nothing else reads it.
ListenAddress $ADDR_B
Port 22
HostKey $STATE/host_key
AuthorizedKeysFile $STATE/authorized_keys
PidFile $STATE/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
SetEnv PATH=/usr/sbin:/usr/bin:/sbin:/bin
EOF
}

make_network() {
    ip netns list | grep -qw "^$NETNS" || ip netns add "$NETNS"
    if ! ip link show "$VETH_A" >/dev/null 2>&1; then
        ip link add "$VETH_A" type veth peer name "$VETH_B"
        ip link set "$VETH_B" netns "$NETNS"
    fi
    ip addr show dev "$VETH_A" | grep -q "$ADDR_A/" || ip addr add "$ADDR_A/30" dev "$VETH_A"
    ip link set "$VETH_A" up
    ip netns exec "$NETNS" sh -c "
        ip addr show dev '$VETH_B' | grep -q '$ADDR_B/' || ip addr add '$ADDR_B/30' dev '$VETH_B'
        ip link set '$VETH_B' up
        ip link set lo up"
}

# Runs "$@" in the background holding no descriptor but 0-2. A daemon must not keep its
# launcher's pipes or sockets open: whoever ran this script and waits for its output or its exit
# (a test harness's Process, whose exit watch is an inherited socket) would wait for the daemon.
detached() {
    (
        for fd in /proc/self/fd/*; do
            fd="${fd##*/}"
            [ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-"
        done
        exec "$@"
    ) </dev/null >/dev/null 2>&1 &
}

start_host() {
    mkdir -p /run/sshd
    chmod 755 /run/sshd
    rm -f "$STATE/sshd.pid" "$STATE/nix-daemon.pid"
    # One process tree: a private mount namespace inside the network namespace; in it, /nix is the
    # empty folder, a nix-daemon serves that store and sshd (in the foreground) holds the namespace.
    detached setsid ip netns exec "$NETNS" unshare --mount --propagation private -- sh -c "
        mount --bind '$STATE/nix' /nix || exit 1
        mount --bind '$STATE/nix.conf' /etc/nix/nix.conf || exit 1
        mkdir -p /nix/var/nix/daemon-socket /nix/var/log
        # NIX_REMOTE=daemon (set for this machine's users) would make the daemon a client of
        # its own socket: each connection would fork another, until fork fails.
        env -u NIX_REMOTE nix-daemon >>'$STATE/nix-daemon.log' 2>&1 </dev/null &
        echo \$! >'$STATE/nix-daemon.pid'
        exec /usr/sbin/sshd -D -e -f '$STATE/sshd_config' >>'$STATE/sshd.log' 2>&1 </dev/null
    "
    local socket="$STATE/nix/var/nix/daemon-socket/socket"
    for _ in $(seq 1 100); do
        if running && [ -S "$socket" ] \
            && ip netns exec "$NETNS" bash -c "exec 3<>/dev/tcp/$ADDR_B/22" 2>/dev/null; then
            # The pipeline user reaches the second store's daemon through this socket (`exec`).
            chmod 755 "$STATE/nix/var/nix/daemon-socket"
            chmod 666 "$socket"
            return
        fi
        sleep 0.1
    done
    tail -n 20 "$STATE/sshd.log" "$STATE/nix-daemon.log" >&2 || true
    stop_host
    die "the second host did not come up within 10 s (logs above)"
}

print_env() {
    local key64
    key64="$(base64 -w0 <"$STATE/host_key.pub")"
    cat <<EOF
export SECOND_HOST_ADDRESS='$ADDR_B'
export SECOND_HOST_SSH_KEY='$STATE/client_key'
export SECOND_HOST_PUBLIC_HOST_KEY='$key64'
export SECOND_HOST_STORE='ssh-ng://root@$ADDR_B?ssh-key=$STATE/client_key&base64-ssh-public-host-key=$key64'
export SECOND_HOST_BUILDER='ssh-ng://root@$ADDR_B x86_64-linux $STATE/client_key 2 1 - - $key64'
export SECOND_HOST_NIX_ROOT='$STATE/nix'
export SECOND_HOST_DAEMON_SOCKET='$STATE/nix/var/nix/daemon-socket/socket'
EOF
}

stop_host() {
    local pid pids
    # Everything in the network namespace (sshd, its sessions, `nix-daemon --stdio`, the daemon),
    # then anything left in the mount namespace that `exec` entered without the network namespace.
    local mntns=""
    pid="$(sshd_pid)"
    [ -n "$pid" ] && mntns="$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)"
    [ -z "$mntns" ] && pid="$(daemon_pid)" && [ -n "$pid" ] \
        && mntns="$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)"
    for signal in TERM KILL; do
        pids=""
        if ip netns list | grep -qw "^$NETNS"; then
            pids="$(ip netns pids "$NETNS" 2>/dev/null || true)"
        fi
        if [ -n "$mntns" ]; then
            for proc in /proc/[0-9]*; do
                [ "$(readlink "$proc/ns/mnt" 2>/dev/null)" = "$mntns" ] && pids="$pids ${proc#/proc/}"
            done
        fi
        pids="$(echo $pids)"
        [ -z "$pids" ] && break
        # shellcheck disable=SC2086
        kill -s "$signal" $pids 2>/dev/null || true
        for _ in $(seq 1 30); do
            local alive=""
            for pid in $pids; do [ -d "/proc/$pid" ] && alive=1; done
            [ -z "$alive" ] && break
            sleep 0.1
        done
    done
    ip link del "$VETH_A" 2>/dev/null || true
    ip netns list | grep -qw "^$NETNS" && ip netns del "$NETNS"
    rm -f "$STATE/sshd.pid" "$STATE/nix-daemon.pid"
}

case "${1:-}" in
    start)
        ensure_tools
        if running; then
            say "running ($NETNS, $ADDR_B)"
        else
            stop_host
            make_keys
            make_network
            start_host
            say "started ($NETNS, $ADDR_B; store at $STATE/nix)"
        fi
        print_env
        ;;
    env)
        running || { say "stopped"; exit 3; }
        print_env
        ;;
    status)
        if running; then say "running ($NETNS, $ADDR_B)"; exit 0; fi
        say "stopped"
        exit 3
        ;;
    exec)
        shift
        [ "$#" -gt 0 ] || die "usage: $0 exec COMMAND [ARG…]"
        running || die "the second host is not running: $0 start"
        # A new mount namespace made from the caller's (so the caller's own mounts stay visible)
        # with the second host's /nix and nix.conf bound in: its nix-daemon answers on the socket
        # under that /nix.
        exec unshare --mount --propagation private -- /bin/sh -c '
            mount --bind "$0/nix" /nix && mount --bind "$0/nix.conf" /etc/nix/nix.conf && exec "$@"' "$STATE" "$@"
        ;;
    stop)
        stop_host
        say "stopped"
        ;;
    wipe)
        stop_host
        if [ -d "$STATE" ]; then
            chmod -R u+w "$STATE" 2>/dev/null || true
            rm -rf "$STATE"
        fi
        say "wiped $STATE"
        ;;
    *)
        die "usage: $0 start|env|status|exec COMMAND…|stop|wipe"
        ;;
esac
