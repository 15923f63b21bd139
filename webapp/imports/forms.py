"""The upload form of the portal's import page."""

from __future__ import annotations

from typing import Any

from django import forms

from webapp.imports.records import RECORD_TYPES, RecordType
from webapp.limits import MAX_IMPORT_BYTES


class ImportForm(forms.Form):
    record_type = forms.ChoiceField(
        label="What the file holds",
        choices=[(slug, record.title) for slug, record in RECORD_TYPES.items()],
    )
    file = forms.FileField(
        label="File (.csv or .xlsx)",
        help_text=f"at most {MAX_IMPORT_BYTES // 2**20} MB and 10,000 rows; the first row names"
        " the columns",
    )

    def __init__(self, *args: Any, record_types: list[RecordType], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["record_type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(r.slug, r.title) for r in record_types]
