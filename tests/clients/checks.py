"""What every client's checks share: the tool, the structured-output type, the expectations."""

from __future__ import annotations

from pydantic import BaseModel

from tests.clients.scripted_upstream import TEXT


class City(BaseModel):
    name: str
    population: int


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOL_RESULT = "sunny in Kyiv"  # get_weather with the scripted upstream's sample argument
EXPECTED_CITY = City(name="Kyiv", population=7)


def assert_text(text: str | None) -> None:
    assert text is not None and text.strip() == TEXT


def assert_tool_answer(text: str | None) -> None:
    assert text is not None and TOOL_RESULT in text, text


def assert_vectors(vectors, count: int, dimensions: int = 8) -> None:
    assert len(vectors) == count
    assert all(len(v) == dimensions for v in vectors)
    assert vectors[0] != vectors[-1] or count == 1
