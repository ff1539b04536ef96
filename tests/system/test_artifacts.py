"""The gateway, compose file, Dockerfiles and cluster manifests pass their validators.

Traefik's own schemas live in ../shared/schemas (outside the repository): those
checks skip where ../shared is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from taskflow_embedded.gateway import ROOT, load, route

SHARED = ROOT.parent / "shared" / "schemas"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (uv sync installs it)"
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def needs_shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/schemas is not beside the repository")
    return SHARED


def test_traefik_config_passes_traefik_schemas() -> None:
    schemas = needs_shared()
    files = [str(ROOT / "gateway" / "dynamic.yml"), str(ROOT / "gateway" / "dev" / "dashboard.yml")]
    provider = str(schemas / "traefik-v3-file-provider.json")
    dynamic = run(tool("check-jsonschema"), "--schemafile", provider, *files)
    assert dynamic.returncode == 0, dynamic.stdout + dynamic.stderr
    static = run(
        tool("check-jsonschema"),
        "--schemafile",
        str(schemas / "traefik-v3.json"),
        str(ROOT / "gateway" / "traefik.yml"),
    )
    assert static.returncode == 0, static.stdout + static.stderr


ROUTES = [
    ("/api/v1/auth/users/me", "auth"), ("/api/v1/participants/me", "auth"),
    ("/api/v1/teams", "teams"),
    ("/api/v1/invitations", "teams"), ("/api/v1/projects", "work"), ("/api/v1/tasks", "work"),
    ("/api/v1/comments/x", "work"), ("/api/v1/notifications", "notify"), ("/docs/auth", "auth"),
    ("/docs/teams", "teams"), ("/docs/work", "work"), ("/docs/notify", "notify"),
    ("/openapi/work.json", "work"),
    ("/docs", "auth"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "service"), ROUTES)
def test_api_md_routing_table(path: str, service: str) -> None:
    router = route("GET", path)
    assert router is not None and router.service == service


def service_openapi_paths() -> list[tuple[str, str, str]]:
    from taskflow_auth.app import create_app as auth
    from taskflow_notify.app import create_app as notify
    from taskflow_teams.app import create_app as teams
    from taskflow_work.app import create_app as work

    found = []
    for name, factory in (("auth", auth), ("teams", teams), ("work", work), ("notify", notify)):
        for path, operations in factory().openapi()["paths"].items():
            concrete = path.replace("{", "").replace("}", "")
            for method in operations:
                found.append((name, method.upper(), concrete))
    return found


PUBLIC = {
    ("POST", "/api/v1/auth/users"), ("POST", "/api/v1/auth/jwt/create"),
    ("POST", "/api/v1/auth/jwt/refresh"),
    ("POST", "/api/v1/auth/jwt/verify"), ("POST", "/api/v1/auth/users/reset_password"),
    ("POST", "/api/v1/auth/users/reset_password_confirm"), ("GET", "/api/v1/auth/jwks.json"),
    ("GET", "/api/v1/auth/verify"),
}  # fmt: skip


def test_every_service_route_reaches_its_service_and_only_public_ones_skip_forward_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    config = load()
    for service, method, path in service_openapi_paths():
        if path in {"/healthz", "/readyz"}:
            continue  # each service's own probes; the gateway has /ping
        router = route(method, path, config)
        assert router is not None, f"no gateway route for {method} {path}"
        assert router.service == service, f"{method} {path} goes to {router.service}, not {service}"
        protected = "verify-token" in router.middlewares
        assert protected == ((method, path) not in PUBLIC), (
            f"{method} {path}: forwardAuth is {protected}"
        )


def test_forward_auth_is_configured_safely() -> None:
    middleware = load()["http"]["middlewares"]["verify-token"]["forwardAuth"]
    assert middleware["address"].endswith("/api/v1/auth/verify")
    assert middleware["trustForwardHeader"] is False
    assert middleware["authResponseHeaders"] == ["X-User-Id"]
    dropped = load()["http"]["middlewares"]["drop-identity-headers"]["headers"][
        "customRequestHeaders"
    ]
    assert {"X-User-Id", "X-User_Id", "X-User.Id"} <= set(dropped) and set(dropped.values()) == {""}


def test_compose_file_passes_the_compose_spec_and_waits_on_health() -> None:
    result = run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        str(ROOT / "docker-compose.yml"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = compose["services"]
    assert {
        "traefik",
        "auth",
        "teams",
        "work",
        "notify",
        "notify-worker",
        "notify-beat",
        "postgres",
        "rabbitmq",
        "redis",
        "smtp4dev",
    } <= set(services)
    for name in ("auth", "teams", "work", "notify"):
        assert "ports" not in services[name], f"{name} must not be published to the host"
        for needed in services[name]["depends_on"].values():
            assert needed["condition"] in {"service_healthy", "service_started"}
    assert services["notify-beat"]["deploy"]["replicas"] == 1
    image = services["traefik"]["image"]
    major, minor, patch = (int(p) for p in image.split(":v")[1].split("."))
    assert (major, minor) == (3, 7) and patch >= 13
    documented = {
        line.split("=")[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = set(__import__("re").findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    assert used <= documented, f"undocumented in .env.example: {used - documented}"


@pytest.mark.parametrize("service", ["auth", "teams", "work", "notify"])
def test_dockerfiles_are_hadolint_clean(service: str) -> None:
    dockerfile = ROOT / "services" / service / "Dockerfile"
    result = run(tool("hadolint"), "--failure-threshold", "info", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert (
        "HEALTHCHECK" in text and "USER 10001" in text and f"--package taskflow-{service}" in text
    )


def test_kubernetes_manifests_validate() -> None:
    k8s = ROOT / "deploy" / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    plain = [str(k8s / name) for name in kustomization["resources"] if name != "ingressroute.yaml"]
    result = run(tool("kubernetes-validate"), "-k", "1.31.0", "--strict", *plain)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = [
        doc["kind"] for path in plain for doc in yaml.safe_load_all(Path(path).read_text()) if doc
    ]
    assert kinds.count("HorizontalPodAutoscaler") == 4
    beat = yaml.safe_load((k8s / "notify-beat.yaml").read_text())
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"


def test_traefik_crds_validate_and_match_the_gateway() -> None:
    import jsonschema

    schemas = needs_shared()
    crds = {
        doc["spec"]["names"]["kind"]: doc
        for doc in yaml.safe_load_all((schemas / "traefik-crd-v1.yml").read_text())
        if doc
    }
    documents = [
        d
        for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "ingressroute.yaml").read_text())
        if d
    ]
    for document in documents:
        schema = crds[document["kind"]]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        jsonschema.Draft4Validator(schema).validate(document)
    gateway = load()["http"]
    [ingress] = [d for d in documents if d["kind"] == "IngressRoute"]
    matches = {
        " ".join(r["match"].split()): r["services"][0]["name"] for r in ingress["spec"]["routes"]
    }
    assert matches == {
        " ".join(r["rule"].split()): r["service"] for r in gateway["routers"].values()
    }
    middlewares = {d["metadata"]["name"] for d in documents if d["kind"] == "Middleware"}
    assert middlewares == set(gateway["middlewares"])
    json.dumps(documents)
