"""Email templates: a subject, a text part and an HTML part for each kind of notification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_env = Environment(
    loader=PackageLoader("taskflow_notify", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, **context: Any) -> Rendered:
    subject = _env.get_template(f"{kind}.subject.txt").render(**context).strip()
    return Rendered(
        subject=" ".join(subject.split())[:300],
        text=_env.get_template(f"{kind}.txt").render(**context),
        html=_env.get_template(f"{kind}.html").render(subject=subject, **context),
    )
