"""``ladle serve --cluster [ADDRESS]``: how the command line reaches the cluster code."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from ladle.cli.app import app
from ladle.errors import SchedulerError
from runtime.cluster import command

runner = CliRunner()


@pytest.fixture
def addresses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    served: list[str] = []
    monkeypatch.setattr(command, "serve_on_cluster", served.append)
    return served


@pytest.mark.parametrize(
    ("arguments", "address"),
    [([], "auto"), (["local"], "local"), (["10.0.0.1:6379"], "10.0.0.1:6379")],
)
def test_cluster_takes_an_address_auto_by_default(
    addresses: list[str], arguments: list[str], address: str
) -> None:
    result = runner.invoke(app, ["serve", "--cluster", *arguments])
    assert result.exit_code == 0, result.output
    assert addresses == [address]


def test_an_address_without_cluster_is_refused(addresses: list[str]) -> None:
    result = runner.invoke(app, ["serve", "local"], terminal_width=100)
    assert result.exit_code == 2 and "--cluster ADDRESS" in result.output
    assert addresses == []


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SchedulerError, match=r"pip install 'ladle\[cluster\]'"):
        command.require_ray()
