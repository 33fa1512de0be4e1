"""The Serve application as an import path, for a KubeRay ``RayService`` (or
``serve run runtime.cluster.kuberay:app``), where no ``ladle serve --cluster`` runs:
built from the ``LADLE_*`` and ``LADLE_CLUSTER_*`` variables of the process that imports
it, with the ingress on the head node (whose store the manifest fills). See
``examples/cluster/rayservice.yaml`` and docs/cluster.md."""

from __future__ import annotations

from ladle.settings import Settings
from runtime.cluster.deploy import HEAD_NODE, application
from runtime.cluster.settings import ClusterSettings

app = application(Settings.from_environment(), ClusterSettings.from_environment(), HEAD_NODE)
"""The ingress bound to the model pool (Ray Serve's ``import_path`` target)."""
