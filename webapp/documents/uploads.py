"""Upload size checked while the request streams in, not after it has been stored."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

from webapp.limits import MAX_DOCUMENT_BYTES, MAX_UPLOAD_REQUEST_BYTES

TOO_LARGE = f"Uploads are limited to {MAX_DOCUMENT_BYTES // 2**20} MB."


class UploadSizeCap(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: refuses a multipart request whose declared length is
    over MAX_UPLOAD_REQUEST_BYTES before a byte is read, and any file that grows past
    MAX_DOCUMENT_BYTES as its chunks arrive (before the next handler keeps them).

    RequestDataTooBig is Django's own refusal: a 400 page, and 413 problem+json in the API."""

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        if content_length > MAX_UPLOAD_REQUEST_BYTES:
            raise RequestDataTooBig(TOO_LARGE)

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > MAX_DOCUMENT_BYTES:
            raise RequestDataTooBig(TOO_LARGE)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) returns the file
