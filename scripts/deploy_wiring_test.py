#!/usr/bin/env python3
"""Proves that the deployment files really wire Shop together.

For docker-compose.yml and for the rendered kind overlay of k8s/, this test
reads every Shop container's command, environment and ports from the files
(and, for what the files leave to the image, from the Dockerfile target the
image is built from), then runs each container as a local `shop` process on
the loopback interface. The environment is assembled as the platform would:
Compose's env_file entries (later files winning, `environment:` over them),
Kubernetes' ConfigMap and Secret references (so SERVICE_TOKEN is the
Secret's value). Only what cannot exist here is rewritten:

- service host names and ports (catalog-service:8001, ...) become
  127.0.0.1 and a free port; PORT becomes that free port; BIND=127.0.0.1;
- DATABASE_URL points at this machine's PostgreSQL (127.0.0.1:5432, user
  postgres, trust auth), in a database created for the run and dropped
  after it;
- KAFKA_BOOTSTRAP_SERVERS points at a Tansu broker started for the run;
- PAYMENT_SUCCESS_RATE is 1, so the payment succeeds.

A host name, port or credential that does not lead where it must (a URL
naming no service, a port no container listens on, a database password
that is not PostgreSQL's) fails the test, as it would fail the deployment.
Kubernetes replicas run as that many processes behind a local round-robin
balancer standing for their Service, on one database. Then the test waits
for every /ready, checks that each service-only endpoint answers 401
without the service token, admits it with the token and is not routed by
the gateway, registers and signs in through the gateway (its session
cookie), buys and pays (order -> payment -> order), signs out, and checks that the order's events reached the order service's
/events and the Kafka topic. It also checks that catalog, cart, order and
payment share one valid SERVICE_TOKEN and the gateway and the identity
service have none, the
probes, health checks, published ports, dependency order, the network
policies and the Argo CD application.

Environment: SHOP_BIN (default target/debug/shop, built when missing),
KUBECTL (default: kubectl on PATH), TANSU_BIN (default ~/.cargo/bin/tansu),
PGHOST/PGPORT (default 127.0.0.1:5432). Uses PyYAML and the standard
library only. Ends with one line: `deploy wiring: N passed, M failed`.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHOP_IN_IMAGE = "/usr/local/bin/shop"
NAMESPACE = "ecommerce"
SERVICES = ("catalog", "cart", "order", "payment", "identity", "gateway")
# Services that get no SERVICE_TOKEN: they call no service-only endpoint.
WITHOUT_SERVICE_TOKEN = ("gateway", "identity")
# The services' shared secret: at least this many visible ASCII characters.
MIN_TOKEN_CHARS = 16
# One service-only endpoint per service that has one (method, path, body),
# asked in a way that changes nothing: what does not exist, or a body that is
# rejected. (The payment service has none: POST /payments without the
# credential is a client paying through the order's flow.)
SERVICE_ONLY = {
    "catalog": ("GET", "/reservations/wiring-probe", None),
    "cart": ("POST", "/cart/wiring-probe/remove-items", {}),
    "order": ("GET", "/orders/999999999/payment-attempt", None),
}


# --------------------------------------------------------------------------
# Results


class Checks:
    """Named checks; a failed one is reported and counted, never hidden."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, name: str) -> None:
        self.passed += 1
        print(f"ok    {name}", flush=True)

    def fail(self, name: str, detail: str) -> None:
        self.failed += 1
        print(f"FAIL  {name}\n      {detail}", flush=True)

    def check(self, name: str, condition: bool, detail: str = "") -> bool:
        if condition:
            self.ok(name)
        else:
            self.fail(name, detail or "condition is false")
        return condition


# Files a service reads when they exist (crates/identity/src/rotation.rs):
# the next and the previous signing key of a rotation by Secret.
OPTIONAL_FILES = {"IDENTITY_NEXT_SIGNING_KEY_FILE", "IDENTITY_PREVIOUS_SIGNING_KEY_FILE"}


class WiringError(Exception):
    """A configuration that cannot work: fails the current check."""


# --------------------------------------------------------------------------
# The Dockerfile: what an image brings when the files say nothing


@dataclass
class ImageConfig:
    target: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    healthcheck: list[str] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)
    user: str = ""


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if not line:
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return ["/bin/sh", "-c", text]


def image_configs(path: Path) -> dict[str, ImageConfig]:
    """The configuration of every named stage, inherited along FROM."""
    stages: dict[str, ImageConfig] = {}
    current: ImageConfig | None = None
    for word, rest in dockerfile_instructions(path):
        if word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            base = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            parent = stages.get(base)
            current = ImageConfig(target=name)
            if parent is not None:
                current.entrypoint = list(parent.entrypoint)
                current.cmd = list(parent.cmd)
                current.env = dict(parent.env)
                current.healthcheck = list(parent.healthcheck)
                current.expose = list(parent.expose)
                current.user = parent.user
            if name:
                stages[name] = current
        elif current is None:
            continue
        elif word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                current.env[key] = value
        elif word == "ENTRYPOINT":
            current.entrypoint = exec_form(rest)
            current.cmd = []
        elif word == "CMD":
            current.cmd = exec_form(rest)
        elif word == "EXPOSE":
            current.expose += [int(p.split("/")[0]) for p in rest.split()]
        elif word == "USER":
            current.user = rest
        elif word == "HEALTHCHECK":
            words = rest.split()
            while words and words[0].startswith("--"):
                words.pop(0)
            if words and words[0].upper() == "CMD":
                current.healthcheck = exec_form(" ".join(words[1:]))
    return stages


# --------------------------------------------------------------------------
# What a deployment file describes


@dataclass
class Container:
    """One Shop container as the files define it."""

    name: str  # compose service / Deployment name
    service: str  # catalog, cart, order, payment or gateway
    argv: list[str]  # after the shop binary
    env: dict[str, str]
    port: int  # where it listens (its PORT)
    replicas: int = 1
    http_probes: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, path, port)
    health_commands: list[tuple[str, list[str]]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # named container ports
    # Files the platform mounts (a Secret volume): path -> content.
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Database:
    hosts: set[str]
    port: int
    user: str
    password: str
    name: str


@dataclass
class Deployment:
    source: str
    containers: list[Container]
    # (host, port) a client uses -> the Container it reaches
    endpoints: dict[tuple[str, int], str]
    database: Database
    kafka: set[tuple[str, int]]  # bootstrap addresses that reach the broker
    kafka_advertised: list[tuple[str, int]]
    entry: tuple[str, int]  # how the outside reaches the gateway (host, port) in the files


def host_port(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    if not host:
        return address.strip(), default_port
    return host, int(port)


def listeners(value: str) -> list[tuple[str, str, int]]:
    """KAFKA_*LISTENERS: [(name, host, port)]."""
    out = []
    for item in value.split(","):
        name, _, rest = item.strip().partition("://")
        host, port = host_port(rest, 9092)
        out.append((name, host, port))
    return out


def broker_ports(env: dict[str, str]) -> set[int]:
    """The ports of the listeners Kafka advertises to clients (not the controller's)."""
    names = {n for n, _, _ in listeners(env["KAFKA_ADVERTISED_LISTENERS"])}
    return {p for n, _, p in listeners(env.get("KAFKA_LISTENERS", "PLAINTEXT://:9092")) if n in names}


def shop_argv(entrypoint: list[str], cmd: list[str], source: str, name: str) -> list[str]:
    full = list(entrypoint) + list(cmd)
    if not full or full[0] != SHOP_IN_IMAGE:
        raise WiringError(f"{source} {name}: runs {full!r}, not {SHOP_IN_IMAGE}")
    return full[1:]


def service_of(argv: list[str], source: str, name: str) -> str:
    if len(argv) != 2 or argv[0] != "serve" or argv[1] not in SERVICES:
        raise WiringError(f"{source} {name}: command {argv!r} is not `shop serve <service>`")
    return argv[1]


def listen_port(env: dict[str, str], source: str, name: str) -> int:
    if "PORT" not in env:
        raise WiringError(f"{source} {name}: no PORT in its environment or image")
    return int(env["PORT"])


def health_argv(test: list[str] | str) -> list[str] | None:
    """A compose healthcheck test as an argv, or None when it is no command."""
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    return list(test)


def read_env_file(path: Path) -> dict[str, str]:
    """A Compose env file (`env_file:`) as Compose reads it: KEY=VALUE lines,
    `#` comments and blank lines ignored, an optional `export `, values
    unquoted (an inline ` #` starts a comment) or in single or double
    quotes. A bare KEY takes the variable from the shell running Compose."""
    out: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not key or any(c.isspace() for c in key):
            raise WiringError(f"{path.name}:{number}: not KEY=VALUE: {raw!r}")
        if not sep:
            if key in os.environ:
                out[key] = os.environ[key]
            continue
        value = value.strip()
        quote = value[:1]
        if quote in ("'", '"') and len(value) >= 2 and value[-1] == quote:
            value = value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = value.split(" #", 1)[0].rstrip()
        if "$" in value:
            raise WiringError(f"{path.name}:{number}: {key} uses interpolation, which this test does not do")
        out[key] = value
    return out


def compose_env_files(base: Path, name: str, spec) -> dict[str, str]:
    """The variables a service's env_file entries give, later files winning;
    a missing file is an error unless the entry says `required: false`."""
    if spec is None:
        return {}
    entries = [spec] if isinstance(spec, str) else list(spec)
    env: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, str):
            entry = {"path": entry}
        path = base / entry["path"]
        required = entry.get("required", True)
        if isinstance(required, str):
            required = required.lower() not in ("false", "0", "no")
        if not path.is_file():
            if required:
                raise WiringError(f"compose {name}: env_file {entry['path']} does not exist")
            continue
        env.update(read_env_file(path))
    return env


def interpolate(value: str) -> str:
    """`${NAME}` and `${NAME:-default}` in a Compose value, from this
    process's environment, as Compose expands them."""
    def expand(match: re.Match) -> str:
        name, default = match.group(1), match.group(3)
        found = os.environ.get(name)
        if default is not None:
            return found or default
        return found or ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", expand, value)


def _check_compose_scraping(checks: Checks, services: dict, containers: list[Container]) -> None:
    """The observability profile's Prometheus scrapes every Shop container
    on its own port as job shop-<service> (what the alert rules expect),
    and mounts the rules and the configuration that say so."""
    prometheus = services.get("prometheus") or {}
    mounts = [str(m) for m in prometheus.get("volumes") or []]
    config_file = next((m.split(":")[0] for m in mounts if m.endswith("/etc/prometheus/prometheus.yml:ro")), None)
    if not checks.check("compose: the observability profile's Prometheus mounts its configuration",
                        config_file is not None, f"volumes {mounts}"):
        return
    checks.check("compose: Prometheus mounts Shop's alert rules",
                 any(m.startswith("./k8s/components/monitoring/rules.yml:") for m in mounts), f"volumes {mounts}")
    config = yaml.safe_load((ROOT / config_file).read_text())
    jobs = {}
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                jobs[target] = job.get("job_name")
    checks.check("compose: Prometheus evaluates the mounted rules",
                 "/etc/prometheus/rules.yml" in (config.get("rule_files") or []), str(config.get("rule_files")))
    for container in containers:
        target = f"{container.name}:{container.port}"
        checks.check(f"compose: Prometheus scrapes {container.name} at {target} as shop-{container.service}",
                     jobs.get(target) == f"shop-{container.service}", f"scrape targets {jobs}")


def load_compose(checks: Checks) -> Deployment:
    path = ROOT / "docker-compose.yml"
    doc = yaml.safe_load(path.read_text())
    services = doc["services"]
    containers: list[Container] = []
    endpoints: dict[tuple[str, int], str] = {}
    database: Database | None = None
    kafka: set[tuple[str, int]] = set()
    advertised: list[tuple[str, int]] = []
    entry = ("", 0)
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        names = {name}
        for net in (svc.get("networks") or {}) if isinstance(svc.get("networks"), dict) else {}:
            names |= set(((svc["networks"][net] or {}).get("aliases")) or [])
        if svc.get("hostname"):
            names.add(svc["hostname"])
        raw_env = svc.get("environment") or {}
        if isinstance(raw_env, list):
            raw_env = dict(item.partition("=")[::2] for item in raw_env)
        # As Compose: the env files first, `environment:` over them.
        env = compose_env_files(path.parent, name, svc.get("env_file"))
        env.update({k: interpolate("" if v is None else str(v)) for k, v in raw_env.items()})
        if image.startswith("postgres:"):
            user = env.get("POSTGRES_USER", "postgres")
            database = Database(names, 5432, user, env.get("POSTGRES_PASSWORD", ""),
                                env.get("POSTGRES_DB", user))
            continue
        if image.startswith("apache/kafka:"):
            ports = broker_ports(env)
            advertised = [(h, p) for n, h, p in listeners(env["KAFKA_ADVERTISED_LISTENERS"])]
            for host, port in advertised:
                if port in ports:
                    kafka.add((host, port))
            for n in names:
                for port in ports:
                    kafka.add((n, port))
            continue
        build = svc.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        stages = image_configs(dockerfile)
        target = build.get("target")
        if target not in stages:
            raise WiringError(f"compose {name}: build target {target!r} is not a stage of {dockerfile}")
        config = stages[target]
        entrypoint = svc.get("entrypoint", config.entrypoint)
        entrypoint = exec_form(entrypoint) if isinstance(entrypoint, str) else entrypoint
        command = svc.get("command", config.cmd if "entrypoint" not in svc else [])
        command = shlex.split(command) if isinstance(command, str) else command
        argv = shop_argv(entrypoint, command, "compose", name)
        full_env = dict(config.env)
        full_env.update(env)
        port = listen_port(full_env, "compose", name)
        container = Container(name, service_of(argv, "compose", name), argv, full_env, port)
        health = svc.get("healthcheck") or {}
        if health.get("disable"):
            pass
        elif "test" in health:
            cmd = health_argv(health["test"])
            if cmd:
                container.health_commands.append(("compose healthcheck", cmd))
        if config.healthcheck:
            container.health_commands.append((f"Dockerfile HEALTHCHECK of {target}", config.healthcheck))
        containers.append(container)
        for n in names:
            endpoints[(n, port)] = name
        for mapping in svc.get("ports") or []:
            published = str(mapping)
            parts = published.split(":")
            if container.service == "gateway" and len(parts) >= 2:
                entry = ("localhost", int(parts[-2]))
                checks.check("compose: the dashboard is on http://localhost:3000", entry[1] == 3000,
                             f"published on {parts[-2]}")
                checks.check(
                    f"compose: gateway's published port leads to its PORT ({published})",
                    int(parts[-1].split("/")[0]) == port,
                    f"container side {parts[-1]} but PORT={port}",
                )
    if database is None:
        raise WiringError("compose: no postgres service")
    _check_compose_order(checks, services, containers, database, kafka)
    _check_compose_scraping(checks, services, containers)
    return Deployment("compose", containers, endpoints, database, kafka, advertised, entry)


# (caller, callee) services where the caller calls the callee only while the
# callee is itself calling the caller: the payment service asks the order
# service about an order only while that order service's payment call is in
# flight. The caller needs no depends_on on the callee, and cannot have one:
# the callee depends on the caller, and Compose refuses a cycle.
CALLBACKS = {("payment", "order")}


def _depends_on(svc: dict) -> dict:
    depends = svc.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {d: {"condition": "service_started"} for d in depends}
    return depends


def _check_compose_order(checks, services, containers, database, kafka) -> None:
    """Each container starts after what it calls is healthy."""
    by_name = {c.name: c for c in containers}
    kafka_services = {h for h, _ in kafka}
    # Compose refuses a depends_on cycle: find one before it does.
    cycle: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        if cycle:
            return
        if name in path:
            cycle.extend(path[path.index(name):] + [name])
            return
        for dep in _depends_on(services.get(name) or {}):
            visit(dep, path + [name])

    for name in services:
        visit(name, [])
    checks.check("compose: depends_on has no cycle", not cycle, " -> ".join(cycle))
    for c in containers:
        needs = set()
        for key, value in c.env.items():
            if key.endswith("_SERVICE_URL"):
                needs.add(urllib.parse.urlsplit(value).hostname)
            elif key == "DATABASE_URL":
                needs.add(urllib.parse.urlsplit(value).hostname)
            elif key == "KAFKA_BOOTSTRAP_SERVERS":
                needs |= {host_port(a, 9092)[0] for a in value.split(",")}
        depends = _depends_on(services[c.name])
        missing = []
        callbacks = []
        for need in sorted(n for n in needs if n):
            target = need if need in services else None
            if target is None and need in kafka_services:
                target = next((n for n in services if n == need), None)
            if target in by_name and (c.service, by_name[target].service) in CALLBACKS:
                # Called back only: the callee must start after the caller instead.
                back = (_depends_on(services[target]).get(c.name) or {}).get("condition")
                checks.check(f"compose: {target} starts after {c.name} is healthy "
                             f"({c.name} calls {target} only while {target} calls it)",
                             back == "service_healthy", f"{target}'s depends_on {c.name}: condition {back}")
                callbacks.append(need)
                continue
            condition = (depends.get(target) or {}).get("condition") if target else None
            if condition != "service_healthy":
                missing.append(f"{need} (condition {condition})")
            elif target in by_name and not by_name[target].health_commands:
                missing.append(f"{need} has no healthcheck")
            elif target not in by_name and not (services[target].get("healthcheck") or {}).get("test"):
                missing.append(f"{need} has no healthcheck")
        needs -= set(callbacks)
        checks.check(
            f"compose: {c.name} starts after {', '.join(sorted(n for n in needs if n)) or 'nothing'} is healthy",
            not missing,
            "missing or not service_healthy: " + ", ".join(missing),
        )


def kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        raise WiringError("kubectl not found (set KUBECTL)")
    return found


def render(overlay: str) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(ROOT / overlay)],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Cluster:
    """The rendered objects, with the lookups a kubelet would do."""

    def __init__(self, docs: list[dict]):
        self.docs = docs

    def of_kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict:
        for d in self.of_kind(kind):
            if d["metadata"]["name"] == name:
                return d
        raise WiringError(f"no {kind} named {name}")

    def config_value(self, kind: str, name: str, key: str) -> str:
        obj = self.get(kind, name)
        if kind == "Secret":
            if key in (obj.get("stringData") or {}):
                return str(obj["stringData"][key])
            if key in (obj.get("data") or {}):
                return base64.b64decode(obj["data"][key]).decode()
        elif key in (obj.get("data") or {}):
            return str(obj["data"][key])
        raise WiringError(f"{kind} {name} has no key {key}")

    def container_env(self, container: dict) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref in source:
                    obj = self.get(kind, source[ref]["name"])
                    for key in list((obj.get("data") or {})) + list((obj.get("stringData") or {})):
                        env[prefix + key] = self.config_value(kind, obj["metadata"]["name"], key)
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            ref = item.get("valueFrom") or {}
            if "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                env[item["name"]] = self.config_value("ConfigMap", r["name"], r["key"])
            elif "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                env[item["name"]] = self.config_value("Secret", r["name"], r["key"])
            else:
                raise WiringError(f"env {item['name']}: unsupported source {ref}")
        return env

    def file_value(self, pod_spec: dict, container: dict, path: str) -> str:
        """The content of a file a Secret or ConfigMap volume mounts at path."""
        for mount in container.get("volumeMounts") or []:
            prefix = mount["mountPath"].rstrip("/") + "/"
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix):]
            volume = next(v for v in pod_spec.get("volumes") or [] if v["name"] == mount["name"])
            for kind, key, name_key in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
                if key in volume:
                    source = volume[key]
                    items = source.get("items")
                    data_key = rel
                    if items:
                        found = [i["key"] for i in items if i["path"] == rel]
                        if not found:
                            raise WiringError(f"no item of volume {mount['name']} at {path}")
                        data_key = found[0]
                    return self.config_value(kind, source[name_key], data_key)
        raise WiringError(f"nothing mounted at {path}")

    def workloads(self):
        for kind in ("Deployment", "StatefulSet"):
            for obj in self.of_kind(kind):
                yield obj

    def services_for(self, labels: dict[str, str]) -> list[dict]:
        return [s for s in self.of_kind("Service") if s["spec"].get("selector") and
                all(labels.get(k) == v for k, v in s["spec"]["selector"].items())]


def dns_names(service: str, namespace: str) -> list[str]:
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"]


def resolve_port(port, container: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise WiringError(f"container {container['name']} has no port named {port}")


def load_kind(checks: Checks) -> tuple[Deployment, Cluster]:
    cluster = Cluster(render("k8s/overlays/kind"))
    stages = image_configs(ROOT / "Dockerfile")
    containers: list[Container] = []
    endpoints: dict[tuple[str, int], str] = {}
    database: Database | None = None
    kafka: set[tuple[str, int]] = set()
    advertised: list[tuple[str, int]] = []
    entry = ("", 0)
    namespaces = {d["metadata"].get("namespace") for d in cluster.docs if d["kind"] != "Namespace"}
    checks.check("kind: every object is in namespace ecommerce", namespaces == {NAMESPACE},
                 f"namespaces: {namespaces}")
    for workload in cluster.workloads():
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]
        labels = pod["metadata"].get("labels") or {}
        for spec_container in pod["spec"]["containers"]:
            image = spec_container["image"]
            repo = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
            env = cluster.container_env(spec_container)
            if repo == "postgres":
                user = env.get("POSTGRES_USER", "postgres")
                password = env.get("POSTGRES_PASSWORD")
                if password is None and "POSTGRES_PASSWORD_FILE" in env:
                    password = cluster.file_value(pod["spec"], spec_container, env["POSTGRES_PASSWORD_FILE"])
                hosts = set()
                for svc in cluster.services_for(labels):
                    hosts |= set(dns_names(svc["metadata"]["name"], NAMESPACE))
                database = Database(hosts, 5432, user, password or "", env.get("POSTGRES_DB", user))
                continue
            if repo == "kafka":
                advertised = [(h, p) for _, h, p in listeners(env["KAFKA_ADVERTISED_LISTENERS"])]
                for svc in cluster.services_for(labels):
                    for port in svc["spec"]["ports"]:
                        target = resolve_port(port.get("targetPort", port["port"]), spec_container)
                        for host in dns_names(svc["metadata"]["name"], NAMESPACE):
                            kafka.add((host, port["port"]))
                        checks.check(f"kind: Service {svc['metadata']['name']}:{port['port']} reaches Kafka's broker listener",
                                     target in broker_ports(env), f"targetPort {target}")
                continue
            if not repo.startswith("shop-") or repo[5:] not in stages:
                continue
            config = stages[repo[5:]]
            entrypoint = spec_container.get("command", config.entrypoint)
            args = spec_container.get("args", config.cmd if "command" not in spec_container else [])
            argv = shop_argv(entrypoint, args, "kind", name)
            full_env = dict(config.env)
            full_env.update(env)
            port = listen_port(full_env, "kind", name)
            c = Container(name, service_of(argv, "kind", name), argv, full_env, port,
                          replicas=int(workload["spec"].get("replicas", 1)), labels=labels,
                          ports={p.get("name", ""): int(p["containerPort"]) for p in spec_container.get("ports") or []})
            checks.check(f"kind: {name} declares containerPort {port} (its PORT)", port in c.ports.values(),
                         f"ports {c.ports}")
            # A *_FILE setting names a file a volume must provide; an
            # optional one (a rotation's next or previous key) a volume
            # mounts the directory of, for the file to appear in.
            for key, value in full_env.items():
                if key in OPTIONAL_FILES:
                    mounted = any(value.startswith(m["mountPath"].rstrip("/") + "/")
                                  for m in spec_container.get("volumeMounts") or [])
                    checks.check(f"kind: {name}'s {key} ({value}) is in a mounted volume, where it may appear",
                                 mounted, f"mounts {spec_container.get('volumeMounts')}")
                elif key.endswith("_FILE"):
                    c.files[value] = cluster.file_value(pod["spec"], spec_container, value)
                    checks.ok(f"kind: {name}'s {key} ({value}) is mounted from a volume")
            for kind_of, want in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
                probe = spec_container.get(kind_of) or {}
                get = probe.get("httpGet")
                if not checks.check(f"kind: {name} {kind_of} is GET {want}", bool(get) and get.get("path") == want,
                                    f"{kind_of}: {probe}"):
                    continue
                c.http_probes.append((kind_of, get["path"], resolve_port(get["port"], spec_container)))
            ctx = spec_container.get("securityContext") or {}
            pod_ctx = pod["spec"].get("securityContext") or {}
            checks.check(f"kind: {name} runs non-root with a read-only root filesystem",
                         ctx.get("readOnlyRootFilesystem") is True and
                         (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")) is True and
                         ctx.get("allowPrivilegeEscalation") is False,
                         f"securityContext {ctx}, pod {pod_ctx}")
            res = spec_container.get("resources") or {}
            checks.check(f"kind: {name} has resource requests and limits",
                         all(k in (res.get(s) or {}) for s in ("requests", "limits") for k in ("cpu", "memory")),
                         f"resources {res}")
            containers.append(c)
            for svc in cluster.services_for(labels):
                svc_name = svc["metadata"]["name"]
                for port in svc["spec"]["ports"]:
                    target = resolve_port(port.get("targetPort", port["port"]), spec_container)
                    checks.check(f"kind: Service {svc_name}:{port['port']} targets {name}'s PORT ({target})",
                                 target == c.port, f"targetPort {target}, PORT {c.port}")
                    for host in dns_names(svc_name, NAMESPACE):
                        endpoints[(host, port["port"])] = name
                    if svc["spec"].get("type") == "NodePort" and c.service == "gateway":
                        entry = ("node", int(port.get("nodePort", 0)))
    if database is None:
        raise WiringError("kind: no postgres StatefulSet")
    return Deployment("kind", containers, endpoints, database, kafka, advertised, entry), cluster


# --------------------------------------------------------------------------
# Network policies (kind): is a connection the wiring needs allowed, and are
# the ones the seed forbids denied?


@dataclass
class Peer:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)


def _peer_matches(rule_peers, peer: Peer, namespace_labels) -> bool:
    if not rule_peers:
        return True  # no from/to: every source or destination
    for p in rule_peers:
        if "ipBlock" in p:
            continue
        ns_sel = p.get("namespaceSelector")
        pod_sel = p.get("podSelector")
        if ns_sel is None:
            ns_ok = peer.namespace == NAMESPACE
        else:
            ns_ok = matches(ns_sel, namespace_labels(peer.namespace)) if ns_sel else True
        pod_ok = matches(pod_sel, peer.labels) if pod_sel else True
        if ns_ok and pod_ok:
            return True
    return False


def _port_matches(rule_ports, port: int, protocol: str, dst: Peer) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str) and not want.isdigit():
            if dst.ports.get(want) == port:
                return True
        elif int(want) <= port <= int(p.get("endPort", want)):
            return True
    return False


def allowed(cluster: Cluster, src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    def namespace_labels(ns: str) -> dict[str, str]:
        labels = {"kubernetes.io/metadata.name": ns}
        for d in cluster.of_kind("Namespace"):
            if d["metadata"]["name"] == ns:
                labels.update(d["metadata"].get("labels") or {})
        return labels

    policies = cluster.of_kind("NetworkPolicy")

    def direction_ok(pod: Peer, other: Peer, kind: str, key: str, peers_key: str, port_owner: Peer) -> bool:
        selecting = [p for p in policies if pod.namespace == NAMESPACE and
                     kind in (p["spec"].get("policyTypes") or ["Ingress"]) and
                     (not p["spec"]["podSelector"] or matches(p["spec"]["podSelector"], pod.labels))]
        if not selecting:
            return True  # not isolated in that direction
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                if _peer_matches(rule.get(peers_key), other, namespace_labels) and \
                        _port_matches(rule.get("ports"), port, protocol, port_owner):
                    return True
        return False

    return direction_ok(src, dst, "Egress", "egress", "to", dst) and \
        direction_ok(dst, src, "Ingress", "ingress", "from", dst)


def check_network_policies(checks: Checks, deployment: Deployment, cluster: Cluster) -> None:
    by_name = {c.name: c for c in deployment.containers}
    peers = {c.name: Peer(NAMESPACE, c.labels, c.ports) for c in deployment.containers}
    for workload in cluster.of_kind("StatefulSet"):
        pod = workload["spec"]["template"]
        ports = {p.get("name", ""): int(p["containerPort"]) for c in pod["spec"]["containers"] for p in c.get("ports") or []}
        peers[workload["metadata"]["name"]] = Peer(NAMESPACE, pod["metadata"].get("labels") or {}, ports)
    dns = Peer("kube-system", {"k8s-app": "kube-dns"}, {"dns": 53})
    needed: list[tuple[str, str, int]] = []
    for c in deployment.containers:
        for key, value in c.env.items():
            if key.endswith("_SERVICE_URL"):
                u = urllib.parse.urlsplit(value)
                target = deployment.endpoints.get((u.hostname, u.port or 80))
                if target:
                    needed.append((c.name, target, by_name[target].port))
            elif key == "DATABASE_URL":
                needed.append((c.name, "postgres", 5432))
            elif key == "KAFKA_BOOTSTRAP_SERVERS":
                needed.append((c.name, "kafka", 9092))
    for src, dst, port in needed:
        checks.check(f"kind: network policies let {src} reach {dst}:{port}",
                     allowed(cluster, peers[src], peers[dst], port))
    for name, peer in peers.items():
        checks.check(f"kind: network policies let {name} resolve names (DNS)",
                     allowed(cluster, peer, dns, 53, "UDP"))
    entry = peers["gateway"]
    outside = Peer("outside", {})
    checks.check("kind: network policies let the outside reach the gateway",
                 allowed(cluster, outside, entry, by_name["gateway"].port))
    # What the seed's recommendation forbids: the cart reaches only the
    # catalog, the order service only cart, catalog, payment and Kafka.
    wanted = {(s, d) for s, d, _ in needed}
    for src in ("cart-service", "order-service", "catalog-service", "payment-service", "identity-service",
                "gateway"):
        for dst, port in (("catalog-service", 8001), ("cart-service", 8002), ("order-service", 8003),
                          ("payment-service", 8004), ("identity-service", 8005), ("kafka", 9092),
                          ("postgres", 5432)):
            if src == dst or (src, dst) in wanted:
                continue
            checks.check(f"kind: network policies deny {src} -> {dst}:{port}",
                         not allowed(cluster, peers[src], peers[dst], port))
    for name, peer in peers.items():
        if name == "gateway":
            continue
        for port in sorted(set(peer.ports.values())):
            checks.check(f"kind: network policies deny the outside -> {name}:{port}",
                         not allowed(cluster, outside, peer, port))


# --------------------------------------------------------------------------
# Running it


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port below the kernel's ephemeral range, so that no outgoing
    connection takes it between now and the moment the service binds it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(1000):
        port = random.randrange(10000, max(low, 10001))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise WiringError("no free port below the ephemeral range")


class Balancer:
    """A local stand-in for a Kubernetes Service: round-robin over replicas."""

    def __init__(self, backends: list[int]):
        self.backends = backends
        self.next = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                backend = self.backends[self.next % len(self.backends)]
                self.next += 1
            threading.Thread(target=self._serve, args=(client, backend), daemon=True).start()

    def _serve(self, client: socket.socket, backend: int) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", backend), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pump(a: socket.socket, b: socket.socket) -> None:
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        t.start()
        pump(client, upstream)
        t.join(timeout=60)
        client.close()
        upstream.close()

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


def http(method: str, url: str, body=None, timeout: float = 10.0,
         headers: dict[str, str] | None = None) -> tuple[int, object]:
    status, answer, _ = http_with_headers(method, url, body, timeout, headers)
    return status, answer


def http_with_headers(method: str, url: str, body=None, timeout: float = 10.0,
                      headers: dict[str, str] | None = None):
    """(status, JSON body or text, response headers)."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json"} if data else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
            got = resp.headers
    except urllib.error.HTTPError as err:
        raw = err.read()
        status = err.code
        got = err.headers
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text), got
    except ValueError:
        return status, text, got


def psql(sql: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PGHOST, "-p", str(PGPORT),
                    "-U", "postgres", "-d", "postgres", "-c", sql],
                   check=True, capture_output=True, text=True)


PGHOST = os.environ.get("PGHOST", "127.0.0.1")
PGPORT = int(os.environ.get("PGPORT", "5432"))


def shop_bin() -> Path:
    path = Path(os.environ.get("SHOP_BIN", ROOT / "target/debug/shop"))
    if not path.exists():
        print(f"building {path} (cargo build -p shop)", flush=True)
        subprocess.run(["cargo", "build", "--quiet", "-p", "shop"], cwd=ROOT, check=True)
    return path


def tansu_bin() -> str:
    if os.environ.get("TANSU_BIN"):
        return os.environ["TANSU_BIN"]
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    if (cargo_home / "bin/tansu").exists():
        return str(cargo_home / "bin/tansu")
    found = shutil.which("tansu")
    if not found:
        raise WiringError("tansu not found (scripts/test.sh installs it; or set TANSU_BIN)")
    return found


def wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


RESTARTS = 3


class Replica:
    """One process standing for one container replica."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path, port: int):
        self.name, self.argv, self.env, self.cwd, self.log, self.port = name, argv, env, cwd, log, port
        self.proc: subprocess.Popen = None  # type: ignore[assignment]
        self.restarts = -1

    def spawn(self) -> None:
        self.restarts += 1
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def last_error(self) -> str:
        lines = [line for line in self.log.read_text().splitlines() if "error" in line.lower()]
        return lines[-1][:300] if lines else "(no error line)"


class Run:
    """One deployment file running as local processes."""

    def __init__(self, deployment: Deployment, checks: Checks, binary: Path):
        self.d = deployment
        self.checks = checks
        self.binary = binary
        self.tmp = Path(tempfile.mkdtemp(prefix=f"shop-wiring-{deployment.source}-"))
        self.procs: list[Replica] = []
        self.balancers: dict[str, Balancer] = {}
        self.replica_ports: dict[str, list[int]] = {}
        self.tansu: subprocess.Popen | None = None
        self.tansu_port = 0
        self.dbname = f"shop_wiring_{deployment.source}_{os.getpid()}_{random.randrange(10**6)}"
        self.db_created = False

    # -- rewriting what cannot exist here

    def local_url(self, name: str, key: str, value: str) -> str:
        u = urllib.parse.urlsplit(value)
        port = u.port or (443 if u.scheme == "https" else 80)
        target = self.d.endpoints.get((u.hostname, port))
        if target is None:
            raise WiringError(f"{self.d.source} {name}: {key}={value} names no Shop service "
                              f"(known: {sorted(set(f'{h}:{p}' for h, p in self.d.endpoints))})")
        return f"http://127.0.0.1:{self.balancers[target].port}{u.path}"

    def local_database(self, name: str, value: str) -> str:
        u = urllib.parse.urlsplit(value)
        db = self.d.database
        problems = []
        if u.scheme not in ("postgres", "postgresql"):
            problems.append(f"scheme {u.scheme}")
        if u.hostname not in db.hosts:
            problems.append(f"host {u.hostname} is not the database ({sorted(db.hosts)[0]})")
        if (u.port or 5432) != db.port:
            problems.append(f"port {u.port}")
        if urllib.parse.unquote(u.username or "") != db.user:
            problems.append(f"user {u.username} is not POSTGRES_USER {db.user}")
        if urllib.parse.unquote(u.password or "") != db.password:
            problems.append("password is not the database's POSTGRES_PASSWORD")
        if u.path.lstrip("/") != db.name:
            problems.append(f"database {u.path.lstrip('/')} is not POSTGRES_DB {db.name}")
        self.checks.check(f"{self.d.source}: {name}'s DATABASE_URL matches the PostgreSQL it deploys",
                          not problems, "; ".join(problems))
        query = f"?{u.query}" if u.query else ""
        return f"postgres://postgres@{PGHOST}:{PGPORT}/{self.dbname}{query}"

    def local_kafka(self, name: str, value: str) -> str:
        out = []
        for address in value.split(","):
            hp = host_port(address, 9092)
            if hp not in self.d.kafka:
                raise WiringError(f"{self.d.source} {name}: KAFKA_BOOTSTRAP_SERVERS {address} is not the broker "
                                  f"(known: {sorted(f'{h}:{p}' for h, p in self.d.kafka)})")
            out.append(f"127.0.0.1:{self.tansu_port}")
        self.checks.ok(f"{self.d.source}: {name}'s KAFKA_BOOTSTRAP_SERVERS ({value}) is the broker")
        advertised = [a for a in self.d.kafka_advertised if a in self.d.kafka]
        self.checks.check(f"{self.d.source}: Kafka advertises an address its clients reach "
                          f"({', '.join(f'{h}:{p}' for h, p in self.d.kafka_advertised)})",
                          bool(advertised) and len(advertised) == len(self.d.kafka_advertised))
        return ",".join(out)

    def environment(self, c: Container) -> dict[str, str]:
        """The container's environment, rewritten for this machine (PORT apart)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for key, value in c.env.items():
            if key.endswith("_SERVICE_URL"):
                value = self.local_url(c.name, key, value)
            elif key == "DATABASE_URL":
                value = self.local_database(c.name, value)
            elif key == "KAFKA_BOOTSTRAP_SERVERS":
                value = self.local_kafka(c.name, value)
            env[key] = value
        for key, value in c.env.items():
            if key.endswith("_FILE") and value in c.files:
                local = self.tmp / f"{c.name}-{key.lower()}"
                local.write_text(c.files[value])
                local.chmod(0o400)
                env[key] = str(local)
        env["BIND"] = "127.0.0.1"
        if c.service == "payment":
            env["PAYMENT_SUCCESS_RATE"] = "1"
        return env

    # -- life cycle

    def start(self) -> None:
        psql(f'CREATE DATABASE "{self.dbname}"')
        self.db_created = True
        self.tansu_port = free_port()
        url = f"tcp://127.0.0.1:{self.tansu_port}"
        log = open(self.tmp / "tansu.log", "w")
        self.tansu = subprocess.Popen([tansu_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                                       "--storage-engine", "memory://tansu/"],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if not wait_port(self.tansu_port, 30):
            raise WiringError(f"tansu did not listen: {(self.tmp / 'tansu.log').read_text()[-2000:]}")
        for c in self.d.containers:
            ports = [free_port() for _ in range(c.replicas)]
            self.replica_ports[c.name] = ports
            self.balancers[c.name] = Balancer(ports)
        for c in self.d.containers:
            base_env = self.environment(c)
            for i, port in enumerate(self.replica_ports[c.name]):
                env = dict(base_env, PORT=str(port))
                cwd = self.tmp / f"{c.name}-{i}"
                cwd.mkdir()
                replica = Replica(f"{c.name}#{i}", [str(self.binary)] + c.argv, env, cwd,
                                  self.tmp / f"{c.name}-{i}.log", port)
                replica.spawn()
                self.procs.append(replica)

    def log_tail(self, path: Path) -> str:
        try:
            return path.read_text()[-1500:]
        except OSError:
            return ""

    def wait_ready(self) -> bool:
        """Every replica answers /ready. One that exits first is started
        again, at most RESTARTS times, as the restart policy of a Pod
        (Always) or of a compose service (unless-stopped) would; each
        restart is printed."""
        all_ready = True
        deadline = time.monotonic() + 90
        for r in self.procs:
            ready = False
            while time.monotonic() < deadline:
                if r.proc.poll() is not None:
                    if r.restarts >= RESTARTS:
                        break
                    print(f"note  {self.d.source}: {r.name} exited with {r.proc.returncode} before it was ready "
                          f"and is restarted, as its restart policy would: {r.last_error()}", flush=True)
                    r.spawn()
                    continue
                try:
                    if http("GET", f"http://127.0.0.1:{r.port}/ready", timeout=3)[0] == 200:
                        ready = True
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            all_ready &= self.checks.check(f"{self.d.source}: {r.name} is ready (GET /ready)", ready,
                                           f"exit code {r.proc.poll()}; log:\n{self.log_tail(r.log)}")
        return all_ready

    def check_probes(self) -> None:
        for c in self.d.containers:
            for port in self.replica_ports[c.name][:1]:
                for kind, path, probe_port in c.http_probes:
                    # The probe's port is the container's PORT (checked when
                    # loading); here: the path answers 2xx on the running service.
                    status = http("GET", f"http://127.0.0.1:{port}{path}")[0] if probe_port == c.port else 0
                    self.checks.check(f"{self.d.source}: {c.name} {kind} GET {path} on port {probe_port} answers",
                                      200 <= status < 300, f"status {status} (PORT {c.port})")
                for label, argv in c.health_commands:
                    self.run_health(c, label, argv, port)
                status, body = http("GET", f"http://127.0.0.1:{port}/metrics")
                self.checks.check(f"{self.d.source}: {c.name} serves /metrics", status == 200 and "http" in str(body),
                                  f"status {status}")

    def run_health(self, c: Container, label: str, argv: list[str], port: int) -> None:
        name = f"{self.d.source}: {c.name} {label} passes"
        if not argv or argv[0] != SHOP_IN_IMAGE or len(argv) < 3 or argv[1] != "check":
            self.checks.fail(name, f"{argv!r} is not `{SHOP_IN_IMAGE} check <url>` (the image has no shell)")
            return
        u = urllib.parse.urlsplit(argv[2])
        if u.hostname not in ("127.0.0.1", "localhost") or u.port != c.port:
            self.checks.fail(name, f"{argv[2]} is not this container's own PORT {c.port}")
            return
        local = argv[2].replace(f"{u.hostname}:{u.port}", f"127.0.0.1:{port}", 1)
        result = subprocess.run([str(self.binary), "check", local] + argv[3:], capture_output=True, text=True,
                                timeout=30)
        self.checks.check(name, result.returncode == 0, result.stderr.strip())

    def check_service_only(self) -> None:
        """The service-only endpoints: 401 on a service's own port without
        the token, admitted with it, never routed by the gateway."""
        src = self.d.source
        gw = self.gateway_url()
        for c in self.d.containers:
            if c.service not in SERVICE_ONLY:
                continue
            method, path, body = SERVICE_ONLY[c.service]
            url = f"http://127.0.0.1:{self.replica_ports[c.name][0]}{path}"
            status, answer = http(method, url, body)
            self.checks.check(f"{src}: {c.name} {method} {path} without X-Service-Token is 401",
                              status == 401, f"{status} {answer}")
            token = c.env.get("SERVICE_TOKEN", "").strip()
            status, answer = http(method, url, body, headers={"X-Service-Token": token})
            self.checks.check(f"{src}: {c.name} {method} {path} with its SERVICE_TOKEN is admitted",
                              status not in (401, 403) and status < 500, f"{status} {answer}")
            status, answer = http(method, f"{gw}/api/{c.service}{path}", body, headers={"X-Service-Token": token})
            self.checks.check(f"{src}: the gateway does not route {method} /api/{c.service}{path}",
                              status == 404, f"{status} {answer}")

    def gateway_url(self) -> str:
        gateways = [c for c in self.d.containers if c.service == "gateway"]
        if not gateways:
            raise WiringError(f"{self.d.source}: no gateway")
        return f"http://127.0.0.1:{self.balancers[gateways[0].name].port}"

    def sign_in(self) -> tuple[dict, dict[str, str]] | None:
        """Registers a customer and signs in through the gateway, as the
        dashboard does: the account and the headers its requests carry
        (the session cookie, and the gateway's own origin)."""
        src = self.d.source
        gw = self.gateway_url()
        status, keys = http("GET", f"{gw}/api/identity/.well-known/jwks.json")
        self.checks.check(f"{src}: the key set is public through the gateway",
                          status == 200 and isinstance(keys, dict) and len(keys.get("keys") or []) == 1,
                          f"{status} {keys}")
        email = f"wiring-{src}-{random.randrange(10**6)}@example.com"
        password = "wiring passphrase"
        status, account = http("POST", f"{gw}/api/identity/auth/register",
                               {"email": email, "password": password, "name": "Wiring"})
        if not self.checks.check(f"{src}: register through the gateway (gateway -> identity)",
                                 status == 201, f"{status} {account}"):
            return None
        status, session, headers = http_with_headers("POST", f"{gw}/api/session",
                                                     {"email": email, "password": password},
                                                     headers={"Origin": gw})
        set_cookie = headers.get("Set-Cookie", "") if headers else ""
        if not self.checks.check(f"{src}: sign in at the gateway: an HttpOnly, SameSite=Strict session cookie",
                                 status == 200 and set_cookie.startswith("shop_session=") and
                                 "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie,
                                 f"{status} {session} Set-Cookie: {set_cookie}"):
            return None
        cookie = set_cookie.split(";", 1)[0]
        return session["account"], {"Cookie": cookie, "Origin": gw}

    def purchase(self) -> int | None:
        src = self.d.source
        gw = self.gateway_url()
        status, products = http("GET", f"{gw}/api/catalog/products")
        if not self.checks.check(f"{src}: gateway lists the catalog's products", status == 200 and
                                 isinstance(products, list) and len(products) > 0, f"{status} {products}"):
            return None
        product = next((p for p in products if p.get("stock", 0) >= 1), products[0])
        signed_in = self.sign_in()
        if signed_in is None:
            return None
        account, session = signed_in
        user = account["id"]
        status, body = http("POST", f"{gw}/api/cart/cart/{user}/items",
                            {"product_id": product["id"], "quantity": 1})
        self.checks.check(f"{src}: accounts are on: a cart refuses an anonymous caller (401)",
                          status == 401, f"{status} {body}")
        status, body = http("POST", f"{gw}/api/cart/cart/{user}/items",
                            {"product_id": product["id"], "quantity": 1}, headers=session)
        if not self.checks.check(f"{src}: add to cart through the gateway, signed in (cart -> catalog)",
                                 status in (200, 201), f"{status} {body}"):
            return None
        status, order = http("POST", f"{gw}/api/order/orders", {"user_id": user}, headers=session)
        if not self.checks.check(f"{src}: POST /api/order/orders places the order (order -> cart, catalog)",
                                 status == 201 and isinstance(order, dict) and order.get("status") == "pending",
                                 f"{status} {order}"):
            return None
        order_id = order["id"]
        status, paid = http("POST", f"{gw}/api/order/orders/{order_id}/payment", headers=session)
        # The order service calls the payment service, which asks the order
        # service about the order before it records the payment.
        if not self.checks.check(f"{src}: POST /api/order/orders/{order_id}/payment is paid "
                                 "(order -> payment -> order)",
                                 status == 200 and isinstance(paid, dict) and paid.get("status") == "paid",
                                 f"{status} {paid}"):
            return None
        # Read back through the gateway: with replicas, through another one
        # (which knows the session from the identity service).
        for _ in range(2):
            status, again = http("GET", f"{gw}/api/order/orders/{order_id}", headers=session)
            self.checks.check(f"{src}: the order reads back as paid", status == 200 and again.get("status") == "paid",
                              f"{status} {again}")
        status, payment = http("GET", f"{gw}/api/payment/payments/order/{order_id}", headers=session)
        self.checks.check(f"{src}: the payment service holds the order's successful payment",
                          status == 200 and payment.get("status") == "success" and
                          payment.get("id") == paid.get("payment_id"), f"{status} {payment}")
        status, cart = http("GET", f"{gw}/api/cart/cart/{user}", headers=session)
        self.checks.check(f"{src}: the cart is empty after the order", status == 200 and not cart.get("items"),
                          f"{status} {cart}")
        status, body = http("DELETE", f"{gw}/api/session", headers=session)
        self.checks.check(f"{src}: sign out at the gateway", status == 200, f"{status} {body}")
        # Every gateway replica refuses it within SESSION_RECHECK_SECS (5 s):
        # a few requests in a row, through all of them, all 401.
        deadline = time.monotonic() + 15
        refused = 0
        while refused < 4 and time.monotonic() < deadline:
            status, body = http("GET", f"{gw}/api/order/orders/{order_id}", headers=session)
            refused = refused + 1 if status == 401 else 0
            if refused == 0:
                time.sleep(0.2)
        self.checks.check(f"{src}: every gateway refuses the old session cookie after sign-out (401)",
                          refused >= 4, f"last answer {status} {body}")
        return order_id

    def check_events(self, order_id: int) -> None:
        src = self.d.source
        order = next(c for c in self.d.containers if c.service == "order")
        port = self.replica_ports[order.name][0]
        wanted = {"order_created", "order_paid"}
        # The whole feed is staff's (accounts on): read it as a service.
        token = order.env.get("SERVICE_TOKEN", "").strip()
        status, events = http("GET", f"http://127.0.0.1:{port}/events?after=0&limit=1000",
                              headers={"X-Service-Token": token})
        got = {e.get("event_type") for e in events if (e.get("data") or {}).get("order_id") == order_id} \
            if status == 200 and isinstance(events, list) else set()
        self.checks.check(f"{src}: the order service's /events has order_created and order_paid",
                          wanted <= got, f"{status} {events}")
        topic = order.env.get("KAFKA_TOPIC", "order-events")
        try:
            result = subprocess.run(
                [str(self.binary), "events", "tail", "--bootstrap", f"127.0.0.1:{self.tansu_port}",
                 "--topic", topic, "--from-beginning", "--max", "2"],
                capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
            lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip().startswith("{")]
            got = {e.get("event_type") for e in lines if (e.get("data") or {}).get("order_id") == order_id}
            detail = f"exit {result.returncode}: {result.stdout[-800:]} {result.stderr[-800:]}"
        except subprocess.TimeoutExpired as err:
            got, detail = set(), f"no events within 60 s: {err.stdout!r} {err.stderr!r}"
        self.checks.check(f"{src}: order_created and order_paid reached Kafka topic {topic}", wanted <= got, detail)

    def check_no_disk_writes(self) -> None:
        for r in self.procs:
            written = [str(p.relative_to(r.cwd)) for p in r.cwd.rglob("*")]
            self.checks.check(f"{self.d.source}: {r.name} wrote nothing to disk (read-only root filesystem is fine)",
                              not written, f"wrote {written}")

    def stop(self) -> None:
        for r in self.procs:
            if r.proc.poll() is None:
                r.proc.send_signal(signal.SIGTERM)
        for r in self.procs:
            try:
                code = r.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                r.proc.kill()
                code = r.proc.wait()
            self.checks.check(f"{self.d.source}: {r.name} stops cleanly on SIGTERM (exit 0)", code == 0,
                              f"exit code {code}; log:\n{self.log_tail(r.log)}")
        self.procs = []

    def cleanup(self) -> None:
        for r in self.procs:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
        for b in self.balancers.values():
            b.stop()
        if self.tansu is not None and self.tansu.poll() is None:
            self.tansu.kill()
            self.tansu.wait()
        if self.db_created:
            try:
                psql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            except subprocess.CalledProcessError as err:
                print(f"warning: could not drop database {self.dbname}: {err.stderr}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_service_token(checks: Checks, deployment: Deployment) -> None:
    """catalog, cart, order and payment share one valid SERVICE_TOKEN (as the
    platform hands it to them: env file, Secret); the gateway and the
    identity service have none."""
    src = deployment.source
    tokens = {}
    for c in deployment.containers:
        if c.service in WITHOUT_SERVICE_TOKEN:
            checks.check(f"{src}: {c.name} does not get SERVICE_TOKEN (it never calls a service-only endpoint)",
                         "SERVICE_TOKEN" not in c.env)
            continue
        token = c.env.get("SERVICE_TOKEN")
        if not checks.check(f"{src}: {c.name} gets SERVICE_TOKEN", token is not None):
            continue
        token = token.strip()
        checks.check(f"{src}: {c.name}'s SERVICE_TOKEN is at least {MIN_TOKEN_CHARS} visible ASCII characters",
                     len(token) >= MIN_TOKEN_CHARS and all(33 <= ord(ch) <= 126 for ch in token),
                     f"{len(token)} characters")
        tokens[c.name] = token
    checks.check(f"{src}: {', '.join(sorted(tokens))} share one SERVICE_TOKEN", len(set(tokens.values())) == 1,
                 f"{len(set(tokens.values()))} different values")


def exercise(deployment: Deployment, checks: Checks, binary: Path) -> None:
    services = sorted(c.service for c in deployment.containers)
    checks.check(f"{deployment.source}: runs catalog, cart, order, payment, identity and gateway",
                 services == sorted(SERVICES), f"runs {services}")
    check_service_token(checks, deployment)
    run = Run(deployment, checks, binary)
    try:
        run.start()
        if run.wait_ready():
            run.check_probes()
            run.check_service_only()
            order_id = run.purchase()
            if order_id is not None:
                run.check_events(order_id)
            run.check_no_disk_writes()
        run.stop()
    finally:
        run.cleanup()


# --------------------------------------------------------------------------
# Files around the manifests


def check_kind_cluster(checks: Checks, deployment: Deployment) -> None:
    config = yaml.safe_load((ROOT / "k8s/kind-cluster.yaml").read_text())
    mappings = [m for n in config.get("nodes") or [] for m in n.get("extraPortMappings") or []]
    node_port = deployment.entry[1]
    checks.check(f"kind: the cluster maps the gateway's NodePort {node_port} to the host",
                 node_port == 30000 and any(m.get("containerPort") == node_port for m in mappings),
                 f"NodePort {node_port}, mappings {mappings}")


def check_argocd(checks: Checks) -> None:
    docs = [d for d in yaml.safe_load_all(subprocess.run(
        [kubectl(), "kustomize", str(ROOT / "argocd")], check=True, capture_output=True, text=True).stdout) if d]
    apps = [d for d in docs if d["kind"] == "Application"]
    projects = {d["metadata"]["name"]: d for d in docs if d["kind"] == "AppProject"}
    checks.check("argocd: one Application and its AppProject", len(apps) == 1 and
                 apps[0]["spec"]["project"] in projects, f"{[d['kind'] for d in docs]}")
    for app in apps:
        spec = app["spec"]
        path = spec["source"]["path"]
        rendered = subprocess.run([kubectl(), "kustomize", str(ROOT / path)], capture_output=True, text=True)
        checks.check(f"argocd: the Application's path {path} is a kustomize overlay that renders",
                     rendered.returncode == 0, rendered.stderr)
        automated = (spec.get("syncPolicy") or {}).get("automated") or {}
        checks.check("argocd: automated sync with prune and self-heal",
                     automated.get("prune") is True and automated.get("selfHeal") is True, f"{automated}")
        checks.check("argocd: deploys to namespace ecommerce", spec["destination"].get("namespace") == NAMESPACE)
        project = projects.get(spec["project"], {}).get("spec", {})
        checks.check("argocd: the AppProject allows the Application's repository and destination",
                     spec["source"]["repoURL"] in (project.get("sourceRepos") or []) and
                     any(d.get("namespace") == NAMESPACE for d in project.get("destinations") or []))
        if rendered.returncode == 0:
            kinds = {(d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else "", d["kind"])
                     for d in yaml.safe_load_all(rendered.stdout) if d}
            allowed_kinds = {(k.get("group", ""), k["kind"]) for k in
                             (project.get("namespaceResourceWhitelist") or []) +
                             (project.get("clusterResourceWhitelist") or [])}
            checks.check("argocd: the AppProject allows every kind the overlay deploys",
                         kinds <= allowed_kinds, f"not allowed: {sorted(kinds - allowed_kinds)}")


def main() -> int:
    checks = Checks()
    binary = shop_bin()
    print(f"shop binary: {binary}", flush=True)
    for source in ("compose", "kind"):
        print(f"\n--- {source} ---", flush=True)
        try:
            if source == "compose":
                deployment = load_compose(checks)
            else:
                deployment, cluster = load_kind(checks)
                check_kind_cluster(checks, deployment)
                check_network_policies(checks, deployment, cluster)
            exercise(deployment, checks, binary)
        except WiringError as err:
            checks.fail(f"{source}: wiring", str(err))
        except Exception as err:  # a bug here must fail loudly, not pass
            checks.fail(f"{source}: unexpected error", f"{err!r}\n{traceback.format_exc()}")
    print("\n--- argocd ---", flush=True)
    try:
        check_argocd(checks)
    except Exception as err:
        checks.fail("argocd: unexpected error", f"{err!r}\n{traceback.format_exc()}")
    print(f"\ndeploy wiring: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
