"""``LADLE_CLUSTER_*``: read once, a bad value named by its variable."""

from __future__ import annotations

import pytest

from ladle.errors import SettingsError
from runtime.cluster.settings import ClusterSettings
from tests.cluster.conftest import CLUSTER_EXTRA
from tests.fixtures.installed import require_package


def test_settings_come_from_the_environment() -> None:
    settings = ClusterSettings.from_environment(
        {"LADLE_CLUSTER_MIN_REPLICAS": "2", "LADLE_CLUSTER_MAX_REPLICAS": "5", "HOME": "/x"}
    )
    assert (settings.min_replicas, settings.max_replicas) == (2, 5)
    assert settings.target(4) == 4.0  # unset: the runner's slots
    assert ClusterSettings(target_ongoing=1.5).target(4) == 1.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LADLE_CLUSTER_MAX_REPLICAS", "0"),
        ("LADLE_CLUSTER_MODELS_PER_REPLICA", "many"),
        ("LADLE_CLUSTER_PROXY", "Nowhere"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ClusterSettings.from_environment({variable: value})
    assert caught.value.variable == variable and value in str(caught.value)


def test_min_above_max_is_refused() -> None:
    with pytest.raises(SettingsError, match="LADLE_CLUSTER_MIN_REPLICAS"):
        ClusterSettings.from_environment(
            {"LADLE_CLUSTER_MIN_REPLICAS": "3", "LADLE_CLUSTER_MAX_REPLICAS": "2"}
        )


def test_the_ingress_admits_what_the_whole_pool_takes() -> None:
    require_package("ray", CLUSTER_EXTRA)
    from ladle.settings import Settings
    from runtime.cluster.ingress import ingress_settings, pool_capacity

    settings = Settings.from_environment({"LADLE_MODELS": "/m", "LADLE_NUM_PARALLEL": "3"})
    cluster = ClusterSettings(max_replicas=4, models_per_replica=2)
    assert pool_capacity(settings, cluster) == 24
    ingress = ingress_settings(settings, cluster)
    assert ingress.num_parallel == 24 and ingress.max_loaded_models == 8
