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
    return data


def parse(model: type[T], data: dict | None = None) -> T:
    """Validate `data` (default: the JSON body) against `model`, raising the API's 400 on the first error."""
    try:
        return model.model_validate(json_body() if data is None else data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ApiError:
    error = exc.errors(include_url=False)[0]
    param = ".".join(str(part) for part in error["loc"]) or None
    if error["type"] == "missing":
        return missing_parameter(param)
    if error["type"] == "extra_forbidden":
        return invalid(param, f"Received unknown parameter: {param}.")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return invalid(param, f"Invalid {param}: {message}." if param else message)
