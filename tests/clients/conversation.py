"""What every client-library test asks: the tool, its answer, the structured reply."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

CITY = "Paris"
QUESTION = f"What is the weather in {CITY}?"
TEMPERATURE = 21
TOOL_RESULT = json.dumps({"city": CITY, "temperature": TEMPERATURE})
"""What ``get_weather`` answers; the model's last turn repeats its temperature."""

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
        },
    },
}
"""One tool, in the shape Ollama's and OpenAI's APIs both take."""


def get_weather(city: str) -> str:
    """The weather in a city."""
    return TOOL_RESULT


class Weather(BaseModel):
    """The structured reply: its JSON schema is sent as ``format``."""

    city: Literal["Paris", "Oslo"]
    warm: bool


STRUCTURED_QUESTION = "Is Paris warm in summer? Answer in JSON with the city and warm."
