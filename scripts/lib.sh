# What the scripts share, sourced after setting LOG_PREFIX (the tag of their messages):
#   say/die       messages to stderr, tagged; die exits 1
#   user_uid      the uid of the user that runs pipelines (SUTRADHAR_USER, default sutradhar)
#   user_docker_host / user_podman_host
#                 that user's rootless Docker and Podman sockets, derived from the uid (not a
#                 fixed number: setup.sh lets the user be chosen)
# Sourced, not run: it sets no shell options of its own.

say() { printf '[%s] %s\n' "${LOG_PREFIX:-sutradhar}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${LOG_PREFIX:-sutradhar}" "$*" >&2; exit 1; }

user_uid() {
    local user="${SUTRADHAR_USER:-sutradhar}"
    id -u "$user" 2>/dev/null || die "no user '$user': run scripts/setup.sh first (or set SUTRADHAR_USER)"
}

user_docker_host() { printf 'unix:///run/user/%s/docker.sock' "$(user_uid)"; }
user_podman_host() { printf 'unix:///run/user/%s/podman/podman.sock' "$(user_uid)"; }
