"""GS1 Digital Link normalisation, exactly as the CBV 2.0 event hash's reference implementation
does it (`epcis_event_hash_generator.dl_normaliser`, version 1.9.3, MIT licence, (c) 2019-2023
Ralph Troeger): EPC URIs, EPC class and pattern URIs and Digital Link URIs become one
constrained canonical Digital Link URI, or None.

The branches and patterns are the reference's, unchanged, because the event hash must equal
the reference's byte for byte, quirks included (this is not a general GS1 key parser: see
webapp/gs1 for that). Only the speed differs: patterns are compiled once, and a pattern's
literal start is compared before its regular expression runs, so a value meets only the one
or two expressions that can match it.

The work is split as the reference's one function runs: EPC URIs (`epc`) first, then Digital
Link URIs (`digital_link`); `matching` holds the compiled patterns, `keys` the reference's
check digit and percent-encoding.
"""

from __future__ import annotations

from webapp.epcis.dl_normaliser.digital_link import canonical_digital_link
from webapp.epcis.dl_normaliser.epc import epc_to_digital_link
from webapp.epcis.dl_normaliser.keys import check_digit
from webapp.epcis.dl_normaliser.matching import match

__all__ = ["check_digit", "match", "normaliser"]


def normaliser(uri: object) -> str | None:
    """Function converts any standard URI conveying a GS1 Key in Canonical GS1 DL URI.

    Function 'normaliser' expects any URI to be used in EPCIS events
    that convey a GS1 key, i.e. EPC URIs, EPC Class URIs,
    EPC ID Pattern URIs, or GS1 Digital Link URIs.
    It returns a corresponding, constrained version of a
    canonical GS1 Digital Link URI, i.e. with
    the lowest level of identification and without CPV/query string.

    Parameters
    ----------
    uri : str
        Valid EPC URI, EPC Pattern URI, EPC Class URI, GS1 Digital Link URI.

    Returns
    -------
    str
        Constrained, canonicalised GS1 Digital Link URI equivalent.
    None
    """

    if not isinstance(uri, str):
        return None
    # Every pattern is anchored on one of these two; most values are neither.
    if not (uri.startswith("urn:epc:") or uri.startswith("http")):
        return None

    try:
        partition = uri.index(".")
    except ValueError:
        return None

    # An EPC URI a pattern matches always becomes a Digital Link URI; anything else is
    # tried as a Digital Link URI.
    converted = epc_to_digital_link(uri, partition)
    if converted is not None:
        return converted
    return canonical_digital_link(uri)
