#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# GitOps on the local KinD cluster: installs Argo CD into it and registers
# Shop (argocd/), so that Argo CD deploys k8s/overlays/kind from your Git
# repository and keeps the cluster in sync with it.
#
# Run scripts/kind-up.sh first (it creates the cluster and loads the images
# the kind overlay runs). The repository is this checkout's "origin" remote
# and its current branch, as pushed: Argo CD reads Git, not your working
# tree. Override with SHOP_GIT_URL and SHOP_GIT_REVISION; the Argo CD
# release with ARGOCD_VERSION (default: stable).
set -eu
# shellcheck source=kind-lib.sh
. "$(dirname -- "$0")/kind-lib.sh"

need_kind
need_kubectl
need git "https://git-scm.com/downloads"
cd "$SHOP_ROOT"
cluster_exists || fail "no cluster named $KIND_CLUSTER: run scripts/kind-up.sh first"

repo=${SHOP_GIT_URL:-$(git remote get-url origin 2>/dev/null || true)}
[ -n "$repo" ] || fail "no Git remote named origin: set SHOP_GIT_URL to the URL Argo CD should read"
# Argo CD reads public repositories over HTTPS without credentials.
case "$repo" in
    git@github.com:*) repo="https://github.com/${repo#git@github.com:}" ;;
esac
revision=${SHOP_GIT_REVISION:-$(git rev-parse --abbrev-ref HEAD)}
version=${ARGOCD_VERSION:-stable}

say "installing Argo CD ($version)"
kubectl --context "$KUBE_CONTEXT" create namespace argocd --dry-run=client -o yaml \
    | kubectl --context "$KUBE_CONTEXT" apply -f -
kubectl --context "$KUBE_CONTEXT" apply -n argocd --server-side --force-conflicts \
    -f "https://raw.githubusercontent.com/argoproj/argo-cd/$version/manifests/install.yaml"
kubectl --context "$KUBE_CONTEXT" -n argocd rollout status deployment/argocd-repo-server --timeout=300s
kubectl --context "$KUBE_CONTEXT" -n argocd rollout status statefulset/argocd-application-controller --timeout=300s

say "registering Shop: $repo ($revision), k8s/overlays/kind"
committed=$(sed -n 's/^ *repoURL: *//p' argocd/application.yaml)
kubectl kustomize argocd \
    | sed -e "s|$committed|$repo|g" \
          -e "s|targetRevision: .*|targetRevision: $revision|" \
          -e "s|path: k8s/overlays/production|path: k8s/overlays/kind|" \
    | kubectl --context "$KUBE_CONTEXT" apply -f -

say "Argo CD syncs Shop now. Its UI:"
echo "  kubectl --context $KUBE_CONTEXT -n argocd port-forward svc/argocd-server 8080:443"
echo "  https://localhost:8080, user admin, password:"
echo "  kubectl --context $KUBE_CONTEXT -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d"
