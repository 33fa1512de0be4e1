"""An Ollama store, built by hand from Ollama's documented layout, works with ladle.

Layout (Ollama's docs/import and server/manifest.go): ``manifests/registry.ollama.ai/
library/<model>/<tag>`` holds a Docker v2 manifest whose config blob carries Ollama's
``ConfigV2`` fields (with the build machine's ``os`` and ``architecture``) and whose
layers use ``application/vnd.ollama.image.*`` media types, the template as a Go template.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.store.image import Image
from builder.store.names import ModelName
from ladle.cli.app import app

GO_TEMPLATE = "{{ if .System }}<|system|>{{ .System }}{{ end }}<|user|>{{ .Prompt }}<|assistant|>"


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / f"sha256-{digest}").write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _ollama_store(root: Path, weights: bytes) -> None:
    layers = [
        {"mediaType": "application/vnd.ollama.image.model", **_blob(root, weights)},
        {"mediaType": "application/vnd.ollama.image.template", **_blob(root, GO_TEMPLATE.encode())},
        {"mediaType": "application/vnd.ollama.image.system", **_blob(root, b"You are Ollama's.")},
        {
            "mediaType": "application/vnd.ollama.image.params",
            **_blob(root, b'{"stop":["<|user|>"]}'),
        },
        {"mediaType": "application/vnd.ollama.image.license", **_blob(root, b"MIT")},
    ]
    config = {
        "model_format": "gguf",
        "model_family": "llama",
        "model_families": ["llama"],
        "model_type": "123K",
        "file_type": "F16",
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            **_blob(root, json.dumps(config).encode()),
        },
        "layers": layers,
    }
    path = root / "manifests/registry.ollama.ai/library/olla/latest"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(manifest, indent=2))


def test_ladle_reads_an_ollama_store(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / ".ollama" / "models"
    _ollama_store(root, tiny_model.read_bytes())
    monkeypatch.setenv("LADLE_MODELS", str(root))
    runner = CliRunner()
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and "olla:latest" in listing.output
    shown = runner.invoke(app, ["show", "olla"])
    assert "architecture        llama" in shown.output and "You are Ollama's." in shown.output

    from builder.store.store import Store

    image = Image.load(Store(root), ModelName.parse("olla"))
    assert image.template is not None and image.template.startswith("{# ladle: converted")
    assert image.params == {"stop": ["<|user|>"]}

    (tmp_path / "Modelfile").write_text("FROM olla\nSYSTEM ladle's now\n")
    created = runner.invoke(app, ["create", "derived", "-f", str(tmp_path / "Modelfile")])
    assert created.exit_code == 0, created.output
    derived = Image.load(Store(root), ModelName.parse("derived"))
    assert derived.model_path == image.model_path and derived.system == "ladle's now"
