"""Request bodies and queries validated by pydantic models, errors mapped to a dotted `param`."""
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ApiError, invalid, missing_parameter

T = TypeVar("T", bound=BaseModel)


class Body(BaseModel):
    """Base for request bodies: unknown fields are refused, numbers are not strings."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


def json_body() -> dict:
    """The request's JSON object; an empty body counts as {}."""
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise invalid(None, "The request body must be a JSON object.")
    bad = _unstorable(data)
    if bad is not None:
        param = ".".join(bad) or None
        raise invalid(param, f"Invalid {param or 'body'}: {UNSTORABLE}.")
    return data


UNSTORABLE = "text must not contain NUL characters or unpaired surrogates"


def storable(text: str) -> bool:
    """Whether every database we run on can store `text`: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The dotted path of the first string in a JSON value that cannot be stored (a bad key names its object)."""
    if isinstance(value, str):
        return None if storable(value) else path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and not storable(key):
            return path
        bad = _unstorable(item, (*path, str(key)))
        if bad is not None:
            return bad
    return None


def parse(model: type[T], data: dict | None = None) -> T:
    """Validate `data` (default: the JSON body) against `model`, raising the API's 400 on the first error."""
    try:
        return model.model_validate(json_body() if data is None else data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ApiError:
    error = exc.errors(include_url=False)[0]
    location = list(error["loc"])
    if "[key]" in location:
        # A bad key of a mapping: pydantic's location is (…, the key itself, "[key]"); the param is the mapping,
        # never the client's key (which may be empty or hold control characters).
        location = location[:location.index("[key]") - 1]
    param = ".".join(str(part) for part in location) or None
    if error["type"] == "missing":
        return missing_parameter(param)
    if error["type"] == "extra_forbidden":
        return invalid(param, f"Received unknown parameter: {param}.")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return invalid(param, f"Invalid {param}: {message}." if param else message)
