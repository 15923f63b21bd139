"""What a product's label encodes: the GS1 Digital Link URI of its lot (resolved by this
site's resolver, or the one PROVENANT_RESOLVER_URL names), else its passport's address;
drawn as an inline SVG for pages and a PNG for label printers."""

from __future__ import annotations

import functools
import io

import segno
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from webapp.lots.identities import lot_gs1_key


def resolver_root(request: HttpRequest) -> str:
    """Where Digital Link URIs point: PROVENANT_RESOLVER_URL, else this site itself."""
    return settings.RESOLVER_URL or request.build_absolute_uri("/").rstrip("/")


def label_uri(request: HttpRequest, lot_id: int) -> str:
    """The URI a lot's QR code carries: `{resolver}/01/{gtin14}/10/{lot}` for a lot with
    GTIN and batch, `{resolver}/00/{sscc}` for a bundle with an SSCC, else the passport's
    own address (a GTIN without a batch names a product, not this lot)."""
    key = lot_gs1_key(lot_id=lot_id)
    if key is not None and (key.ai == "00" or key.lot):
        return key.digital_link(resolver_root(request))
    return request.build_absolute_uri(reverse("passport:passport", args=[lot_id]))


@functools.lru_cache(maxsize=2048)
def qr_svg(url: str) -> str:
    """`url` as an inline SVG QR code (error correction M). Kept per process: drawing one
    (segno's masking) is a few milliseconds of a lot page, and a lot's label never changes."""
    return segno.make(url, error="m").svg_inline(scale=3, border=2)


def qr_png(url: str, *, scale: int = 8) -> bytes:
    """`url` as a PNG QR code (error correction M, the 4-module quiet zone)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
