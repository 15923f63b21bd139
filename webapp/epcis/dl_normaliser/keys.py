"""The reference's check digit and percent-encoding, unchanged (see the package's docstring)."""

# ruff: noqa: E501

from __future__ import annotations

import math


def web_uri_percent_encoder(input: str) -> str:
    """Function percent-encodes URL-unsafe characters in GS1 Digital Link URIs.

    Table 7-1 in the GS1 Digital Link Standard requires
    the following symbols to be percent-encoded:
    '!', space, '#', '%', '&', '(', ')', '*', '+', ',', '/', ':'
    EPC URIs already prohibit some of them (e.g. '#')
    Function 'webURIPercentEncoder' is called to ensure that
    data elements accommodating these symbols are percent-encoded.

    Parameters
    ----------
    input : str
        Character requiring percent-encoding.

    Returns
    -------
    str
        Percent-encoded equivalent of character.
    """

    return (
        input.replace("!", "%21")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("*", "%2A")
        .replace("+", "%2B")
        .replace(",", "%2C")
        .replace(":", "%3A")
    )


def check_digit(key_wo_checkdigit: str) -> int:
    """Returns check digit for GTIN-8, GTIN-12, GTIN-13, GLN, GTIN-14, SSCC, GSIN, GSRN, GSRN-P.
    For further details, see GS1 GenSpecs, section 7.9.1: Standard check digit calculations for GS1 data structures.

    Parameters
    ----------
    key_wo_checkdigit : str
        GS1 key without check digit.

    Returns
    -------
        str: Check digit for GS1 key.
    """

    # Reverse string
    key_wo_checkdigit = key_wo_checkdigit[::-1]
    # Alternatively fetch digits, multiply them by 3 or 1, and sum them up
    summation = 0
    for i in range(len(key_wo_checkdigit) - 1, -1, -1):
        if int(key_wo_checkdigit[i]) == 0:
            continue
        elif i % 2 != 0:
            summation += int(key_wo_checkdigit[i]) * 1
        else:
            summation += int(key_wo_checkdigit[i]) * 3
    # Subtract sum from nearest equal or higher multiple of ten
    checkdigit = math.ceil(summation / 10) * 10 - summation
    return checkdigit
