"""Property-based: requests generated from the service's own OpenAPI schema (schemathesis,
hypothesis underneath) against a live server, over every route. Whatever they hold, the
answer is never a 5xx, and every error has a JSON body that says what is wrong."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from service_helpers import LiveServer

from server.main import create_app

EXAMPLES = 12  # per operation: bounded for CI


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, bundled_model):
    from server.settings import Settings

    root = tmp_path_factory.mktemp("schema")
    service = Settings(data_dir=root / "service", adapt_steps=2, max_upload_bytes=2_000_000,
                       max_clip_seconds=20.0, max_voice_seconds=30.0, max_text_chars=300,
                       requests_per_minute=0, local_workers=0)
    with LiveServer(create_app(service, model=bundled_model)) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_no_server_errors_and_json_errors(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the API
    seen: dict[int, int] = {}
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call(timeout=120)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            where = (case.method, case.path, case.path_parameters, case.body)
            assert response.status_code < 500, (where, response.status_code, response.text[:500])
            if response.status_code >= 400:
                assert response.json().get("detail"), (where, response.text[:500])

        check()
    print("statuses:", dict(sorted(seen.items())))
    assert sum(seen.values()) >= 5 * len(operations)
    assert any(200 <= code < 300 for code in seen) and any(code >= 400 for code in seen)
