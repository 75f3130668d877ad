"""docker-compose.yml stays true to the package: its commands exist in the CLI, its
VOICEADAPT_* variables are settings, and the services the scale-out needs are there."""

from __future__ import annotations

from pathlib import Path

import yaml

from server.cli import build_parser
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_compose_matches_the_package():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"api", "worker", "redis", "postgres"} <= set(services)
    fields = set(Settings.model_fields)
    parser = build_parser()
    for name in ("api", "worker"):
        service = services[name]
        command = service["command"]
        assert command[:3] == ["python", "-m", "server"], command
        parser.parse_args(command[3:])  # exits (fails the test) on an unknown command or option
        for var in service["environment"]:
            assert var.startswith("VOICEADAPT_"), var
            assert var.removeprefix("VOICEADAPT_").lower() in fields, f"{var} is not a setting"
        assert any(v.endswith(":/data") for v in service["volumes"])
        assert service["environment"]["VOICEADAPT_JOB_BACKEND"] == "celery"
    assert "healthcheck" in services["api"]
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["environment"]["VOICEADAPT_DATABASE_URL"].startswith("postgresql+psycopg")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "server,scale]" in dockerfile  # the service's, celery's, redis's and psycopg's packages
    assert "COPY training" not in dockerfile and "COPY server" in dockerfile  # no training code


def test_serving_never_imports_training_code():
    """DESIGN: server/ imports only the inference surface; training code stays out."""
    import subprocess
    import sys

    code = ("import sys, server.main, server.jobs.local, server.jobs.celery_app; "
            "print(sorted(m for m in sys.modules if m == 'training' or m.startswith('training.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "[]", out
