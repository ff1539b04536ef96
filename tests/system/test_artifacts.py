"""The gateway, compose file, Dockerfiles and cluster manifests pass their validators.

Traefik's own schemas live in ../shared/schemas (outside the repository): those
checks skip where ../shared is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
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


def test_traefik_serves_https_and_http_only_redirects() -> None:
    static = yaml.safe_load((ROOT / "gateway" / "traefik.yml").read_text())
    entry_points = static["entryPoints"]
    redirect = entry_points["web"]["http"]["redirections"]["entryPoint"]
    assert redirect == {"to": "websecure", "scheme": "https", "permanent": True}
    assert "tls" in entry_points["websecure"]["http"]
    assert "forwardedHeaders" not in entry_points["websecure"]  # client X-Forwarded-* dropped
    assert static["ping"]["entryPoint"] == "traefik" and static["api"]["insecure"] is False
    for name, router in load()["http"]["routers"].items():
        # Plain HTTP only on internal, web's entry point inside the network; the API's
        # protected routers are on one of the two (forwardAuth on websecure only).
        assert router["entryPoints"] in (["websecure", "internal"], ["websecure"], ["internal"]), (
            name
        )


def test_only_web_is_trusted_on_the_internal_entry_point_which_is_never_published() -> None:
    static = yaml.safe_load((ROOT / "gateway" / "traefik.yml").read_text())
    internal = static["entryPoints"]["internal"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    web = services["web"]["networks"]["taskflow"]["ipv4_address"]
    assert internal["forwardedHeaders"] == {"trustedIPs": [web], "notAppendXForwardedFor": True}
    port = internal["address"].removeprefix(":")
    assert services["web"]["environment"]["WEB_API_URL"] == f"http://traefik:{port}"
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert not [p for p in published if str(p).split(":")[-1] == port]
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "configmap.yaml").read_text())["data"]
    assert config["WEB_API_URL"].endswith(f":{port}")


def test_the_dashboard_is_reachable_from_this_machine_only() -> None:
    dashboard = yaml.safe_load((ROOT / "gateway" / "dev" / "dashboard.yml").read_text())
    [router] = dashboard["http"]["routers"].values()
    assert router["entryPoints"] == ["traefik"]
    assert "Host(`localhost`)" in router["rule"] and router["service"] == "api@internal"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = compose["services"]["traefik"]["ports"]
    assert sorted(ports) == ["127.0.0.1:8080:8080", "443:443", "80:80"]
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            public = port in {"80:80", "443:443"} and name == "traefik"
            assert public or port.startswith("127.0.0.1:"), f"{name} publishes {port}"


ROUTES = [
    ("/api/v1/auth/users/me", "auth"), ("/api/v1/participants/me", "auth"),
    ("/api/v1/teams", "teams"),
    ("/api/v1/invitations", "teams"), ("/api/v1/permissions", "teams"), ("/api/v1/audit", "teams"),
    ("/api/v1/projects", "work"), ("/api/v1/tasks", "work"),
    ("/api/v1/comments/x", "work"), ("/api/v1/notifications", "notify"), ("/docs/auth", "auth"),
    ("/docs/teams", "teams"), ("/docs/work", "work"), ("/docs/notify", "notify"),
    ("/openapi/work.json", "work"),
    ("/docs", "auth"), ("/reset-password", "web"), ("/verify-email", "web"),
    ("/invitations/accept", "web"), ("/tasks/x", "web"), ("/events", "web"),
    ("/", "web"), ("/login", "web"), ("/static/app.css", "web"), ("/teams", "web"),
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
    ("GET", "/api/v1/auth/verify"), ("POST", "/api/v1/auth/users/verify_email"),
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
        "web",
        "postgres",
        "rabbitmq",
        "redis",
        "smtp4dev",
    } <= set(services)
    for name in ("auth", "teams", "work", "notify", "web"):
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


SERVICE_PREFIXES = ("AUTH_", "TEAMS_", "WORK_", "NOTIFY_", "WEB_")


def test_each_compose_container_gets_only_its_own_secrets() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = compose["services"]
    for name, service in services.items():
        assert "env_file" not in service, f"{name} reads the whole .env"
    owners = {"auth": "AUTH_", "teams": "TEAMS_", "work": "WORK_", "notify": "NOTIFY_",
              "notify-worker": "NOTIFY_", "notify-beat": "NOTIFY_", "web": "WEB_"}  # fmt: skip
    for name, prefix in owners.items():
        environment = services[name]["environment"]
        foreign = [
            v for v in environment if v.startswith(SERVICE_PREFIXES) and not v.startswith(prefix)
        ]
        assert not foreign, f"{name} is given {foreign}"
        assert environment["TASKFLOW_ENVIRONMENT"] == "${TASKFLOW_ENVIRONMENT:-production}"
    holders = [n for n, s in services.items() if "AUTH_SIGNING_KEY_PEM" in s.get("environment", {})]
    assert holders == ["auth"]
    assert "INTERNAL_API_KEY" not in str(services["postgres"]["environment"])
    assert "RABBITMQ" not in str(services["postgres"]["environment"])


def test_compose_services_trust_forwarded_headers_from_traefik_only() -> None:
    import ipaddress

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    [subnet] = compose["networks"]["taskflow"]["ipam"]["config"]
    traefik = compose["services"]["traefik"]["networks"]["taskflow"]["ipv4_address"]
    assert ipaddress.ip_address(traefik) in ipaddress.ip_network(subnet["subnet"])
    for name in ("auth", "teams", "work", "notify", "web"):
        assert compose["services"][name]["environment"]["FORWARDED_ALLOW_IPS"] == traefik
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "configmap.yaml").read_text())["data"]
    assert config["FORWARDED_ALLOW_IPS"] not in {"*", ""}
    ipaddress.ip_network(config["FORWARDED_ALLOW_IPS"])


def test_the_service_dockerfile_is_hadolint_clean() -> None:
    dockerfile = ROOT / "services" / "Dockerfile"
    result = run(tool("hadolint"), "--failure-threshold", "info", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "HEALTHCHECK" in text and "USER 10001" in text
    assert '--package "taskflow-${SERVICE}"' in text and "python -m taskflow_%s" in text
    assert not list((ROOT / "services").glob("*/Dockerfile")), "one Dockerfile for every service"


@pytest.mark.parametrize("service", ["auth", "teams", "work", "notify", "web"])
def test_compose_builds_each_service_from_the_one_dockerfile(service: str) -> None:
    package = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    assert package["project"]["name"] == f"taskflow-{service}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    containers = [name for name in compose["services"] if name.split("-")[0] == service]
    assert service in containers
    for name in containers:
        build = compose["services"][name]["build"]
        assert build["dockerfile"] == "services/Dockerfile", name
        assert build["args"] == {"SERVICE": service}, name


def test_kubernetes_manifests_validate() -> None:
    k8s = ROOT / "deploy" / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    plain = [str(k8s / name) for name in kustomization["resources"] if name != "ingressroute.yaml"]
    result = run(tool("kubernetes-validate"), "-k", "1.31.0", "--strict", *plain)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = [
        doc["kind"] for path in plain for doc in yaml.safe_load_all(Path(path).read_text()) if doc
    ]
    assert kinds.count("HorizontalPodAutoscaler") == 5
    beat = yaml.safe_load((k8s / "notify-beat.yaml").read_text())
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"


def test_only_web_reaches_the_gateways_internal_entry_point_in_a_cluster() -> None:
    """The internal entry point skips forwardAuth and trusts X-Forwarded-For: in a cluster a
    NetworkPolicy in Traefik's namespace lets only web's pods reach it."""
    policy_file = ROOT / "deploy" / "k8s" / "traefik" / "networkpolicy.yaml"
    result = run(tool("kubernetes-validate"), "-k", "1.31.0", "--strict", str(policy_file))
    assert result.returncode == 0, result.stdout + result.stderr
    policy = yaml.safe_load(policy_file.read_text())
    internal_port = int(
        yaml.safe_load((ROOT / "gateway" / "traefik.yml").read_text())["entryPoints"]["internal"][
            "address"
        ].lstrip(":")
    )
    rules = policy["spec"]["ingress"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    open_ports = {p["port"] for rule in rules if "from" not in rule for p in rule["ports"]}
    assert internal_port not in open_ports
    [from_web] = [rule for rule in rules if "from" in rule]
    assert [p["port"] for p in from_web["ports"]] == [internal_port]
    namespace = yaml.safe_load((ROOT / "deploy" / "k8s" / "namespace.yaml").read_text())
    [peer] = from_web["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": namespace["metadata"]["name"]
    }
    [web] = [d for d in k8s_documents("Deployment") if d["metadata"]["name"] == "web"]
    assert peer["podSelector"]["matchLabels"] == web["spec"]["template"]["metadata"]["labels"]


def k8s_documents(kind: str) -> list[dict[str, Any]]:
    k8s = ROOT / "deploy" / "k8s"
    names = yaml.safe_load((k8s / "kustomization.yaml").read_text())["resources"]
    return [
        doc
        for name in names
        for doc in yaml.safe_load_all((k8s / name).read_text())
        if doc and doc["kind"] == kind
    ]


def test_no_deployment_reads_another_service_s_secret() -> None:
    secrets = {s["metadata"]["name"]: s["stringData"] for s in k8s_documents("Secret")}
    assert "taskflow-secrets" not in secrets
    for name, data in secrets.items():
        if name == "auth-signing-key":
            assert set(data) == {"signing-key.pem"}
            continue
        service = name.removesuffix("-secrets")
        prefix = f"{service.upper()}_"
        assert all(key.startswith(prefix) for key in data), f"{name} holds {sorted(data)}"
    for deployment in k8s_documents("Deployment"):
        service = deployment["metadata"]["name"].split("-")[0]
        spec = deployment["spec"]["template"]["spec"]
        used = {
            source["secretRef"]["name"]
            for container in spec["containers"]
            for source in container.get("envFrom", [])
            if "secretRef" in source
        } | {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        allowed = {f"{service}-secrets"} | ({"auth-signing-key"} if service == "auth" else set())
        assert used <= allowed and f"{service}-secrets" in used, (deployment["metadata"], used)


def test_auth_replicas_share_one_signing_key_from_a_secret() -> None:
    [auth] = [d for d in k8s_documents("Deployment") if d["metadata"]["name"] == "auth"]
    spec = auth["spec"]["template"]["spec"]
    [container] = spec["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AUTH_REQUIRE_SIGNING_KEY"] == "true"
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "signing-key"]
    assert env["AUTH_SIGNING_KEY_FILE"] == f"{mount['mountPath']}/signing-key.pem"
    assert mount["readOnly"] is True
    [volume] = [v for v in spec["volumes"] if v["name"] == "signing-key"]
    assert volume["secret"]["secretName"] == "auth-signing-key"
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "configmap.yaml").read_text())["data"]
    assert config["TASKFLOW_ENVIRONMENT"] == "production"
    assert config["TASKFLOW_CORS_ALLOW_ORIGINS"] == ""


def test_placeholder_secrets_would_stop_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each cluster Secret's placeholders, loaded as its service would, in production."""
    from taskflow_auth.config import AuthSettings
    from taskflow_chassis.deployment import placeholder_settings
    from taskflow_notify.config import NotifySettings
    from taskflow_teams.config import TeamsSettings
    from taskflow_web.config import WebSettings
    from taskflow_work.config import WorkSettings

    secrets = {s["metadata"]["name"]: s["stringData"] for s in k8s_documents("Secret")}
    for settings_class, name in (
        (AuthSettings, "auth"), (TeamsSettings, "teams"), (WorkSettings, "work"),
        (NotifySettings, "notify"), (WebSettings, "web"),
    ):  # fmt: skip
        with monkeypatch.context() as env:
            for key, value in secrets[f"{name}-secrets"].items():
                env.setenv(key, value)
            found = placeholder_settings(settings_class(environment="production"))
        expected = {k.removeprefix(f"{name.upper()}_").lower() for k, v in
                    secrets[f"{name}-secrets"].items() if "change-me" in v}  # fmt: skip
        assert set(found) == expected, name


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
    ingresses = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "IngressRoute"}
    # One IngressRoute per set of entry points, with the routers of dynamic.yml on them.
    for name, entry_points in (
        ("taskflow", ["websecure", "internal"]),
        ("taskflow-public", ["websecure"]),
        ("taskflow-internal", ["internal"]),
    ):
        ingress = ingresses[name]
        # TLS from websecure's own configuration: spec.tls would make internal's routes TLS.
        assert ingress["entryPoints"] == entry_points and "tls" not in ingress, name
        routes = {
            " ".join(r["match"].split()): (r["services"][0]["name"], r.get("priority"),
                                           [m["name"] for m in r.get("middlewares", [])])
            for r in ingress["routes"]
        }  # fmt: skip
        assert routes == {
            " ".join(r["rule"].split()): (r["service"], r.get("priority"), r.get("middlewares", []))
            for r in gateway["routers"].values()
            if r["entryPoints"] == entry_points
        }, name
    # Every route's service lets go of an idle connection as gateway/traefik.yml's does.
    transports = {
        d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "ServersTransport"
    }
    static = yaml.safe_load((ROOT / "gateway" / "traefik.yml").read_text())
    assert transports == {"taskflow": static["serversTransport"]}
    for ingress in ingresses.values():
        for ingress_route in ingress["routes"]:
            for service in ingress_route.get("services", []):
                if service.get("kind") != "TraefikService":  # the redirect's noop@internal
                    assert service["serversTransport"] == "taskflow", ingress_route["match"]
    [redirect] = ingresses["taskflow-http"]["routes"]
    assert ingresses["taskflow-http"]["entryPoints"] == ["web"]
    assert [m["name"] for m in redirect["middlewares"]] == ["redirect-https"]
    middlewares = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "Middleware"}
    assert middlewares.pop("redirect-https") == {
        "redirectScheme": {"scheme": "https", "permanent": True}
    }
    assert set(middlewares) == set(gateway["middlewares"])
    for name, spec in middlewares.items():
        declared = json.loads(json.dumps(gateway["middlewares"][name]))
        if "forwardAuth" in spec:
            assert spec["forwardAuth"]["address"].startswith("http://auth.taskflow.svc")
            spec["forwardAuth"]["address"] = declared["forwardAuth"]["address"]
        assert spec == declared, f"middleware {name} differs from gateway/dynamic.yml"
    json.dumps(documents)
