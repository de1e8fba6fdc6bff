"""The compose stack (deploy/compose/), checked offline: schema, mounts, wiring, secrets."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import jsonschema

from sla.model import JSON
from tests.deploy.compose_cases import WORKERS, binds, command, flag
from tests.deploy.conftest import COMPOSE_DIR, DATA, ROOT, load_yaml

SECRETS_DIR = COMPOSE_DIR / "secrets"
PASSWORD_VARS = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)
#: The client settings the CLI reads (docs/operations.md uses the same names).
CLIENT_VARS = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD_FILE",
    "KAFKA_SSL_CAFILE",
    "CLICKHOUSE_PASSWORD_FILE",
}


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((DATA / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _env_from_files(service: JSON) -> dict[str, str]:
    """NAME -> file of an ``env-from-files NAME=FILE... --`` entrypoint (else empty)."""
    entrypoint = service.get("entrypoint", [])
    if "/usr/local/bin/env-from-files" not in entrypoint:
        return {}
    args = entrypoint[entrypoint.index("/usr/local/bin/env-from-files") + 1 :]
    pairs = args[: args.index("--")]
    return dict(p.split("=", 1) for p in pairs)


# -- schema -----------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec(compose: JSON) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in _validator().iter_errors(compose)]
    assert errors == []


def test_the_schema_check_rejects_a_broken_compose_file(compose: JSON) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["worker-1"]["healthcheck"]["retires"] = 3
    broken["services"]["kafka"]["depends_on"] = {"clickhouse": {"condition": "healthy"}}
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_the_vendored_schema_says_where_it_comes_from() -> None:
    note = (DATA / "README.md").read_text(encoding="utf-8")
    assert "compose-spec/compose-spec" in note
    assert (DATA / "LICENSE.compose-spec").is_file()


# -- files the stack needs --------------------------------------------------------


def test_every_mounted_file_exists_in_the_repository(compose: JSON) -> None:
    missing = [
        f"{name}: {host}"
        for name, service in compose["services"].items()
        for host, _ in binds(service)
        if not host.exists()
    ]
    assert missing == []
    assert any(binds(s) for s in compose["services"].values())


def test_images_are_built_from_the_repository_dockerfile(compose: JSON) -> None:
    built = {n: s["build"] for n, s in compose["services"].items() if "build" in s}
    assert set(built) >= {"migrate", "topics", *WORKERS, "prober"}
    for build in built.values():
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).is_file()


def test_the_dockerfile_installs_the_project_and_keeps_what_it_copies() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"pip install [^\n]*-e \.", dockerfile)
    assert 'ENTRYPOINT ["availability"]' in dockerfile
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M)
    sources = [s for line in copied for s in line.split()]
    assert "deploy/clickhouse" in sources  # the migrations runner reads them there
    ignored = [
        ln.strip().rstrip("/")
        for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(source == i or source.startswith(i + "/") for i in ignored), source


# -- secrets ----------------------------------------------------------------------


def test_secrets_come_from_files_written_by_init_secrets(compose: JSON, tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    subprocess.run(
        ["sh", str(COMPOSE_DIR / "init-secrets.sh"), str(out)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    written = {p.name: p.read_text() for p in out.iterdir()}
    declared = compose["secrets"]
    assert {Path(s["file"]).name for s in declared.values()} == set(written)
    for secret in declared.values():
        assert (COMPOSE_DIR / secret["file"]).resolve().parent == SECRETS_DIR
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", v) for v in written.values())
    assert len(set(written.values())) == len(written)
    assert (out.stat().st_mode & 0o077) == 0
    # Run again: nothing is replaced.
    subprocess.run(["sh", str(COMPOSE_DIR / "init-secrets.sh"), str(out)], check=True, timeout=30)
    assert {p.name: p.read_text() for p in out.iterdir()} == written


def test_the_secrets_folder_is_never_committed() -> None:
    lines = (SECRETS_DIR / ".gitignore").read_text(encoding="utf-8").split()
    assert "*" in lines
    assert "!.gitignore" in lines


def test_no_password_is_written_in_the_compose_file(compose: JSON) -> None:
    for name, service in compose["services"].items():
        secrets = set(service.get("secrets", []))
        env: dict[str, str] = service.get("environment", {})
        assert isinstance(env, dict), f"{name}: environment as a mapping"
        for var, value in env.items():
            if PASSWORD_VARS.search(var):
                assert var.endswith("_FILE"), f"{name}: {var} holds a value, not a file"
                path = PurePosixPath(str(value))
                assert path.parent == PurePosixPath("/run/secrets"), (name, var, value)
                assert path.name in secrets, (name, var)
        for var, file in _env_from_files(service).items():
            assert PurePosixPath(file).parent == PurePosixPath("/run/secrets")
            assert PurePosixPath(file).name in secrets, (name, var)
        for arg in command(service):
            assert not re.search(r"://[^/@:]+:[^/@]+@", arg), f"{name}: password in {arg}"
    text = (COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8")
    assert "env_file" not in text


def test_the_cli_settings_use_the_agreed_names(compose: JSON) -> None:
    for name in (*WORKERS, "topics", "prober", "migrate"):
        env = compose["services"][name]["environment"]
        names = {v for v in env if v.startswith(("KAFKA_", "CLICKHOUSE_"))}
        assert names <= CLIENT_VARS, (name, names - CLIENT_VARS)


# -- wiring -----------------------------------------------------------------------


def test_kafka_clients_reach_the_sasl_listener_with_the_formatted_user(compose: JSON) -> None:
    props = dict(
        ln.split("=", 1)
        for ln in (COMPOSE_DIR / "kafka" / "server.properties").read_text().splitlines()
        if ln and not ln.startswith("#")
    )
    advertised: dict[str, str] = {}
    for entry in props["advertised.listeners"].split(","):
        listener_name, address = entry.split("://", 1)
        advertised[address] = listener_name
    protocols: dict[str, str] = {}
    for entry in props["listener.security.protocol.map"].split(","):
        listener_name, protocol = entry.split(":", 1)
        protocols[listener_name] = protocol
    kafka = compose["services"]["kafka"]
    for name in (*WORKERS, "topics", "prober"):
        env = compose["services"][name]["environment"]
        listener = advertised[env["KAFKA_BOOTSTRAP_SERVERS"]]
        assert protocols[listener] == env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_MECHANISM"] in props["sasl.enabled.mechanisms"].split(",")
        assert env["KAFKA_SASL_USERNAME"] == kafka["environment"]["SCRAM_USERNAME"]
        assert "kafka_sasl_password" in compose["services"][name]["secrets"]
        assert compose["services"][name]["depends_on"]
    start = (COMPOSE_DIR / "kafka" / "start.sh").read_text()
    assert "--add-scram" in start
    assert "/run/secrets/kafka_sasl_password" in start
    assert "kafka_sasl_password" in kafka["secrets"]
    mounts = {target: host for host, target in binds(kafka)}
    assert kafka["entrypoint"][-1] in mounts
    assert "/opt/availability/kafka/server.properties" in mounts
    assert str(kafka["healthcheck"]["test"][-1]).endswith(props["listeners"].split(":")[-1])


def test_two_workers_with_health_checks_own_volumes_and_one_store(compose: JSON) -> None:
    services = compose["services"]
    workers = [n for n, s in services.items() if command(s)[:1] == ["worker"]]
    assert sorted(workers) == list(WORKERS)
    volumes = set()
    for name in WORKERS:
        service = services[name]
        args = command(service)
        assert flag(args, "--web-port") != flag(args, "--health-port")
        assert flag(args, "--web-host") == "0.0.0.0"
        # probed on the port whose /health answers under any load (its own process)
        check = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{flag(args, '--health-port')}/health" in check
        dsn = flag(args, "--store")
        assert dsn.startswith("http://availability@clickhouse:8123/")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        named = [str(v).split(":") for v in service["volumes"]]
        assert [t for _, t in named] == ["/var/lib/availability"]
        volumes.add(named[0][0])
    assert len(volumes) == len(WORKERS)  # no two workers share a table store
    assert command(services["migrate"]) == ["migrate", "--store", dsn]
    assert command(services["topics"]) == ["topics"]


def test_the_dockerfile_copies_every_package_the_wheel_ships() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text(encoding="utf-8")
    copied = {
        s for line in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M) for s in line.split()
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    elsewhere = set(setuptools["package-dir"])  # the migrations, copied from deploy/clickhouse
    shipped = {p.split(".")[0] for p in setuptools["packages"] if p not in elsewhere}
    assert shipped <= copied, sorted(shipped - copied)


def test_the_worker_volume_is_the_images_working_directory() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^WORKDIR (\S+)$", dockerfile, flags=re.M)[-1] == "/var/lib/availability"


def test_the_prober_reads_a_mounted_targets_file(compose: JSON) -> None:
    prober = compose["services"]["prober"]
    args = command(prober)
    assert args[0] == "probe"
    assert flag(args, "--region")
    mounts = {target: host for host, target in binds(prober)}
    from tools.prober import load_targets

    targets = load_targets(mounts[flag(args, "--targets")])
    assert {t.service for t in targets} == {"api", "web"}


def test_clickhouse_users_match_the_clients(compose: JSON) -> None:
    import xml.etree.ElementTree as ET

    users = ET.parse(COMPOSE_DIR / "clickhouse" / "users.xml").getroot().find("users")
    assert users is not None
    env_of: dict[str, str] = {}
    for user in users:
        password = user.find("password")
        assert password is not None
        env_of[user.tag] = password.attrib["from_env"]
    assert set(env_of) == {"availability", "grafana"}
    clickhouse = compose["services"]["clickhouse"]
    files = _env_from_files(clickhouse)
    assert set(env_of.values()) <= set(files)
    # The workers' user reads the same secret the server's password comes from.
    assert files[env_of["availability"]] == "/run/secrets/clickhouse_password"
    assert (
        compose["services"]["worker-1"]["environment"]["CLICKHOUSE_PASSWORD_FILE"]
        == "/run/secrets/clickhouse_password"
    )
    # Grafana's data source logs in as the grafana user with the same secret.
    datasources = load_yaml(ROOT / "deploy/grafana/provisioning/datasources/datasources.yaml")
    ch = next(d for d in datasources["datasources"] if d["uid"] == "availability-clickhouse")
    assert ch["jsonData"]["username"] == "grafana"
    grafana_env = _env_from_files(compose["services"]["grafana"])
    assert grafana_env["CLICKHOUSE_GRAFANA_PASSWORD"] == files[env_of["grafana"]]
    assert ch["secureJsonData"]["password"] == "$CLICKHOUSE_GRAFANA_PASSWORD"
