"""One way to validate every config surface (stack config, policy config, Lambda environment, CLI files).

Each surface is a pydantic model built on `StrictModel`: unknown keys are refused with the nearest known key
suggested, and `validate` turns pydantic's report into one line that names the file or namespace and the
key path, e.g. `bucketguard:storages[0].blockUnscaned (name 'teaching'): unknown key; did you mean
blockUnscanned?`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from bucketguard.errors import UserError

M = TypeVar("M", bound=BaseModel)


class ConfigError(UserError, ValueError):
    """An invalid configuration value; the message is one line naming where and which key."""


class Invalid(ValueError):
    """Raised by a model's own checks: `path` (relative to the model) names the key the message is about."""

    def __init__(self, path: str | tuple[str | int, ...], message: str) -> None:
        self.path = (path,) if isinstance(path, str) else path
        super().__init__(message)


class UnknownKey(Invalid):
    def __init__(self, key: str, known: Iterable[str]) -> None:
        super().__init__(key, f"unknown key{did_you_mean(key, known)}")


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """'; did you mean allowedRegions?' for the nearest known key, '' when none is near."""
    choices = list(known)
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == key.lower()]
    if close:
        return f"; did you mean {close[0]}?"
    return f" (known: {', '.join(sorted(choices))})" if choices else ""


def _key(name: str, field: FieldInfo) -> str:
    # an explicit validation alias (an environment variable's name) wins over the camelCase one
    return field.validation_alias if isinstance(field.validation_alias, str) else field.alias or name


class StrictModel(BaseModel):
    """camelCase keys on the wire, snake_case in Python; unknown keys refused; values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = [_key(name, field) for name, field in cls.model_fields.items()]
            for key in data:
                if key not in known and key not in cls.model_fields:
                    raise UnknownKey(str(key), known)
        return data


def pattern(regex: str, what: str) -> AfterValidator:
    """A string constraint whose error says what was expected ('... is not an IAM role ARN')."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _flag(value: Any) -> Any:
    # YAML and JSON give booleans; `pulumi config set` and environment variables give strings.
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]


def _account_number(value: Any) -> Any:
    # YAML reads an unquoted 222222222222 (and `pulumi config set --path` stores it) as a number.
    if isinstance(value, int) and not isinstance(value, bool):
        if 10**11 <= value < 10**12:
            return str(value)
        raise ValueError(
            f"{value} is not a 12-digit AWS account id (one starting with 0 must be quoted in YAML: "
            "'012345678901')"
        )
    return value


AccountId = Annotated[
    str, BeforeValidator(_account_number), pattern(r"^\d{12}$", "a 12-digit AWS account id")
]
RegionName = Annotated[str, pattern(r"^[a-z]{2}(-[a-z]+)+-\d$", "an AWS region name such as eu-west-1")]
TopicArn = Annotated[
    str, pattern(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}(\.fifo)?$", "an SNS topic ARN")
]
RoleArn = Annotated[
    str,
    pattern(
        r"^arn:aws:iam::\d{12}:role/[\w+=,.@/-]{1,512}$",
        "an IAM role ARN (arn:aws:iam::<12 digits>:role/...)",
    ),
]
QueueArn = Annotated[
    str,
    pattern(
        r"^arn:aws[a-z-]*:sqs:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[\w-]{1,80}(\.fifo)?$",
        "an SQS queue ARN (arn:aws:sqs:<region>:<12 digits>:<name>)",
    ),
]
PrincipalArn = Annotated[
    str,
    pattern(
        r"^arn:aws:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$",
        "an IAM role or user ARN (arn:aws:iam::<12 digits>:role/... or :user/...)",
    ),
]


def unique(items: tuple[str, ...]) -> tuple[str, ...]:
    for index, item in enumerate(items):
        if item in items[:index]:
            raise ValueError(f"{item!r} is listed twice")
    return items


def _render(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _name_hint(raw: Any, loc: tuple[Any, ...]) -> str:
    """(name 'teaching') for the innermost list entry on the path that has a name."""
    hint, node = "", raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(node, Mapping) and isinstance(node.get("name"), str):
            hint = f" (name {node['name']!r})"
    return hint


def _message(error: Mapping[str, Any], show_input: bool = True) -> str:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Exception):
        return str(cause)
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "unknown key"
    text = str(error["msg"])
    if not show_input:
        return f"{text[0].lower()}{text[1:]}"
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return f"{text[0].lower()}{text[1:]}, got {shown}"


def problem(exc: ValidationError) -> str:
    """The first error's message alone ("'mars-1' is not an AWS region name such as eu-west-1")."""
    return _message(exc.errors()[0])


def describe(exc: ValidationError, raw: Any, where: str, *, show_input: bool = True) -> str:
    """The first error of a pydantic report as `<where><key path>[ (name ...)]: <message>` (without the
    offending value when it may be a secret: `show_input=False`)."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    path = loc + (cause.path if isinstance(cause, Invalid) else ())
    rendered = _render(path)
    if not rendered:
        return f"{where.rstrip(': ')}: {_message(error, show_input)}"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}{rendered}{_name_hint(raw, path)}: {_message(error, show_input)}{more}"


def validate(model: type[M], raw: Any, where: str, *, context: Mapping[str, Any] | None = None) -> M:
    """`model` from `raw`, or a one-line ConfigError; `where` prefixes the key path ('bucketguard:')."""
    try:
        return model.model_validate(raw, context=dict(context or {}))
    except ValidationError as exc:
        raise ConfigError(describe(exc, raw, where)) from None


def read_yaml(path: Path) -> Any:
    """The document of a YAML file, or a one-line ConfigError: `<file>:<line>:<column>: invalid YAML:
    <problem>` (PyYAML's own message spans several lines)."""
    import yaml  # only the commands reading a stack config need it, never the Lambda handlers

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a `Pulumi.<stack>.yaml` file (empty when the file has none)."""
    document = read_yaml(path) or {}
    config = document.get("config") or {} if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(
            f"{path}: not a stack config: expected a `config:` mapping as Pulumi.<stack>.yaml has"
        )
    check_namespaces(config, f"{path}: ")
    return config


def check_namespaces(keys: Iterable[str], where: str = "") -> None:
    """Refuses a stack config key whose namespace is a near miss of ours (`bucketgaurd:storages`): the
    program reads only its own namespace, so the key would be skipped and the stack deployed without it."""
    for key in keys:
        namespace, sep, name = str(key).partition(":")
        if not sep or namespace == "bucketguard":
            continue
        if difflib.get_close_matches(namespace.lower(), ["bucketguard"], n=1, cutoff=0.8):
            raise ConfigError(f"{where}{key}: unknown namespace; did you mean bucketguard:{name}?")
