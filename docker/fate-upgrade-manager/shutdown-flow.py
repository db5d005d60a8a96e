"""Scale FATE Flow to zero replicas before an upgrade and wait until it is down.

Usage: shutdown-flow.py NAMESPACE

KubeFATE runs FATE Flow as the Deployment or StatefulSet named `python` in the party's
namespace. Exits 0 once no replica is ready, 1 if it is still up after ten minutes.
Runs inside the cluster, with the job's service account.
"""

from __future__ import annotations

import sys
import time

APP_NAME = "python"
CHECKS = 60
CHECK_INTERVAL = 10
GRACE_PERIOD = 30


def find_flow(apps, namespace):
    """('deployment' | 'statefulset', object) for FATE Flow, or None."""
    for item in apps.list_namespaced_deployment(namespace).items:
        if item.metadata.name == APP_NAME:
            return "deployment", item
    for item in apps.list_namespaced_stateful_set(namespace).items:
        if item.metadata.name == APP_NAME:
            return "statefulset", item
    return None


def scale_to_zero(apps, namespace, kind) -> None:
    # A patch of the object itself: the permission KubeFATE's upgrade job is granted.
    body = {"spec": {"replicas": 0}}
    if kind == "deployment":
        apps.patch_namespaced_deployment(APP_NAME, namespace, body)
    else:
        apps.patch_namespaced_stateful_set(APP_NAME, namespace, body)


def ready_replicas(apps, namespace, kind) -> int:
    if kind == "deployment":
        status = apps.read_namespaced_deployment_status(APP_NAME, namespace).status
    else:
        status = apps.read_namespaced_stateful_set_status(APP_NAME, namespace).status
    return status.ready_replicas or 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    namespace = argv[1]

    from kubernetes import client, config  # only in the image

    config.load_incluster_config()
    apps = client.AppsV1Api()
    found = find_flow(apps, namespace)
    if found is None:
        print(f"no deployment or statefulset named {APP_NAME!r} in {namespace}; nothing to stop")
        return 0
    kind, _ = found
    scale_to_zero(apps, namespace, kind)
    for _ in range(CHECKS):
        ready = ready_replicas(apps, namespace, kind)
        print(f"{kind} {APP_NAME}: {ready} ready replica(s)")
        if ready == 0:
            print(f"waiting {GRACE_PERIOD}s for the pod's termination grace period")
            time.sleep(GRACE_PERIOD)
            return 0
        time.sleep(CHECK_INTERVAL)
    print(f"{kind} {APP_NAME} is still up after {CHECKS * CHECK_INTERVAL}s")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
