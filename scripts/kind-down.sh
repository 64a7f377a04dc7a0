#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# Removes the KinD cluster of Shop and everything in it (its data included).
# KIND_CLUSTER=name picks another cluster.
set -eu
# shellcheck source=kind-lib.sh
. "$(dirname -- "$0")/kind-lib.sh"

need_kind
if cluster_exists; then
    say "deleting cluster $KIND_CLUSTER"
    kind delete cluster --name "$KIND_CLUSTER"
else
    say "no cluster named $KIND_CLUSTER: nothing to do"
fi
