"""The garbage collector is tuned only by a gateway that owns its process, once it has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interlingua.app import collector
from interlingua.app.config import parse
from interlingua.app.factory import CONFIG_VARIABLE, create_app
from tests.harness import serve
from tests.support import async_test


@pytest.fixture
def untuned() -> Iterator[tuple[int, int, int]]:
    """The collector as the test found it, put back afterwards (it is the whole test run's)."""
    before = gc.get_threshold()
    try:
        yield before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@async_test
async def test_a_gateway_that_owns_its_process_tunes_the_collector_after_start_up(
        tmp_path: Path, untuned: tuple[int, int, int]) -> None:
    app = create_app(parse({"server": {"data_dir": str(tmp_path)}}, {}, "test"), owns_process=True)
    assert gc.get_threshold() == untuned  # not before start-up is done
    async with serve(app, lifespan="on") as url, httpx.AsyncClient() as http:
        assert gc.get_threshold() == collector.THRESHOLDS and gc.get_freeze_count() > 0
        assert (await http.get(url + "/healthz")).status_code == 200


@async_test
async def test_a_mounted_gateway_leaves_the_collector_alone(tmp_path: Path, untuned: tuple[int, int, int]) -> None:
    app = create_app(parse({"server": {"data_dir": str(tmp_path)}}, {}, "test"))
    async with serve(app, lifespan="on"):
        assert gc.get_threshold() == untuned and gc.get_freeze_count() == 0


@async_test
async def test_the_factory_a_server_command_line_calls_owns_its_process(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\n')
    monkeypatch.setenv(CONFIG_VARIABLE, str(config))
    apps = [create_app(), create_app(parse({"server": {"data_dir": str(tmp_path)}}, {}, "test"))]
    try:
        assert [app.owns_process for app in apps] == [True, False]
    finally:
        for app in apps:
            await app.aclose()
