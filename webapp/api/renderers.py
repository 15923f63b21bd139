"""Renderers for the API's answers that are files (a document's bytes, an import's result
CSV) rather than JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer


class FileAnswerRenderer(BaseRenderer):
    """Lets a client ask for a file answer by its media type (the one the schema publishes).
    The file itself comes as a response of its own; only a refusal is rendered here, as the
    same problem+json document the JSON renderer would write. A subclass names the media
    type and format."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        rendered: bytes = JSONRenderer().render(data)
        return rendered
