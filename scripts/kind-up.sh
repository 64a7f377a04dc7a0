#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# Shop on a local KinD cluster, in one command (Linux and macOS):
#   1. creates the cluster "shop" (k8s/kind-cluster.yaml) unless it exists,
#   2. builds the five images (./Dockerfile) and loads them into the cluster,
#   3. deploys k8s/overlays/kind and waits until everything is ready.
# Then the dashboard is on http://localhost:30000. Run it again after a
# change: it rebuilds, reloads and restarts the services.
# Needs docker, kind and kubectl. KIND_CLUSTER=name picks another cluster.
set -eu
# shellcheck source=kind-lib.sh
. "$(dirname -- "$0")/kind-lib.sh"

need_docker
need_kind
need_kubectl
cd "$SHOP_ROOT"

if cluster_exists; then
    say "cluster $KIND_CLUSTER exists"
else
    say "creating cluster $KIND_CLUSTER"
    kind create cluster --name "$KIND_CLUSTER" --config k8s/kind-cluster.yaml --wait 120s
fi

say "building the images (the first build compiles Shop: several minutes)"
images=""
for target in $SHOP_TARGETS; do
    DOCKER_BUILDKIT=1 docker build --target "$target" --tag "shop-$target:$SHOP_TAG" .
    images="$images shop-$target:$SHOP_TAG"
done

say "loading the images into the cluster"
# One call: the five images share their layers, which are sent once.
# shellcheck disable=SC2086 # $images is a list of image names
kind load docker-image --name "$KIND_CLUSTER" $images

redeploy=no
if kubectl --context "$KUBE_CONTEXT" -n ecommerce get deployment gateway >/dev/null 2>&1; then
    redeploy=yes
fi

say "deploying k8s/overlays/kind"
kubectl --context "$KUBE_CONTEXT" apply -k k8s/overlays/kind

if [ "$redeploy" = yes ]; then
    # Same tag, new image: restart the pods so they run what was just loaded.
    say "restarting the services on the new images"
    kubectl --context "$KUBE_CONTEXT" -n ecommerce rollout restart deployment
fi

say "waiting for PostgreSQL and Kafka"
for set in postgres kafka; do
    kubectl --context "$KUBE_CONTEXT" -n ecommerce rollout status "statefulset/$set" --timeout=300s
done
say "waiting for the services"
for deployment in identity-service catalog-service cart-service payment-service order-service gateway; do
    kubectl --context "$KUBE_CONTEXT" -n ecommerce rollout status "deployment/$deployment" --timeout=300s
done

kubectl --context "$KUBE_CONTEXT" -n ecommerce get pods
say "Shop is up: http://localhost:30000 (remove it with scripts/kind-down.sh)"
say "accounts are on; make a staff account (its password is printed once) with:"
echo "  kubectl --context $KUBE_CONTEXT -n ecommerce exec deploy/identity-service -- /usr/local/bin/shop accounts create-staff --email you@example.com"
