# shellcheck shell=sh disable=SC2034 # the variables are used by the scripts that source this file
# Shared by the scripts/kind-*.sh scripts (sourced, not run).
# POSIX sh: works with the /bin/sh of Linux and macOS.

# The repository root, whatever the current directory.
SHOP_ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
# The KinD cluster and its kubectl context.
KIND_CLUSTER=${KIND_CLUSTER:-shop}
KUBE_CONTEXT="kind-$KIND_CLUSTER"
# The images, one per service, all built from ./Dockerfile; the kind
# overlay runs them with the tag "local" (never pulled).
SHOP_TARGETS="catalog cart order payment identity gateway"
SHOP_TAG=local

say() { printf '==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need TOOL HOW-TO-GET-IT: stop with a clear message when TOOL is missing.
need() {
    command -v "$1" >/dev/null 2>&1 || fail "$1 is required but not installed: $2"
}

need_docker() {
    need docker "https://docs.docker.com/get-docker/ (Docker Desktop on macOS, Docker Engine on Linux)"
    docker info >/dev/null 2>&1 || fail "docker is installed but its daemon does not answer: start Docker Desktop or the docker service"
}

need_kind() {
    need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation (macOS: brew install kind)"
}

need_kubectl() {
    need kubectl "https://kubernetes.io/docs/tasks/tools/ (macOS: brew install kubectl)"
}

cluster_exists() {
    kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"
}
