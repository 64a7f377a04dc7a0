#!/usr/bin/env python3
"""Makes k8s/components/monitoring/prometheus-rule.yaml (the Prometheus
Operator's PrometheusRule) from rules.yml, the alert rules' one source.

    python3 scripts/monitoring_rules.py          # write it
    python3 scripts/monitoring_rules.py --check  # fail when it differs
"""
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent.parent / "k8s" / "components" / "monitoring"
HEADER = """# Made from rules.yml (the one to edit), for the Prometheus Operator:
#   python3 scripts/monitoring_rules.py
# scripts/check-deploy.sh fails when the two differ.
"""


def made() -> str:
    rules = yaml.safe_load((HERE / "rules.yml").read_text())
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "shop"},
        "spec": rules,
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=100)


def main() -> int:
    target = HERE / "prometheus-rule.yaml"
    if "--check" in sys.argv[1:]:
        if target.read_text() != made():
            print(f"{target} differs from rules.yml: run python3 scripts/monitoring_rules.py",
                  file=sys.stderr)
            return 1
        print(f"{target.name} matches rules.yml")
        return 0
    target.write_text(made())
    return 0


if __name__ == "__main__":
    sys.exit(main())
