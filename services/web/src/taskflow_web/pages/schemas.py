"""What every form posts besides its fields: the CSRF token (checked by ``CsrfChecked``
before the route runs). Each form is a model with ``extra="forbid"``, parsed with
``Annotated[XForm, Form()]``; values are bounded here, judged by the API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    csrf_token: str = Field(default="", max_length=128)
