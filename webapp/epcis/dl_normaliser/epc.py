"""EPC URIs, EPC class URIs and EPC ID pattern URIs to constrained canonical Digital Link
URIs, branch for branch as the reference does it (see the package's docstring)."""

from __future__ import annotations

from webapp.epcis.dl_normaliser.keys import check_digit, web_uri_percent_encoder
from webapp.epcis.dl_normaliser.matching import match


def epc_to_digital_link(uri: str, partition: int) -> str | None:  # noqa: C901 - the reference, branch for branch
    """The Digital Link URI for an EPC URI, EPC class URI or EPC ID pattern URI the
    reference's patterns match; None for any other value. `partition` is the index of the
    URI's first dot."""

    # EPC URIs
    if (
        match(
            r"^urn:epc:id:sgtin:((\d{6}\.\d{7})|(\d{7}\.\d{6})|(\d{8}\.\d{5})|(\d{9}\.\d{4})|(\d{10}\.\d{3})|(\d{11}\.\d{2})|(\d{12}\.\d{1}))\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[17:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        serial = uri[32:]
        return (
            "https://id.gs1.org/01/"
            + raw_gtin
            + str(check_digit(raw_gtin))
            + "/21/"
            + web_uri_percent_encoder(serial)
        )

    if (
        match(
            r"^urn:epc:id:sscc:((\d{6}\.\d{11}$)|(\d{7}\.\d{10}$)|(\d{8}\.\d{9}$)|(\d{9}\.\d{8}$)|(\d{10}\.\d{7}$)|(\d{11}\.\d{6}$)|(\d{12}\.\d{5}$))",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        serialref = uri[(partition + 2) :]
        rawSSCC = uri[(partition + 1) : (partition + 2)] + gs1companyprefix + serialref
        return "https://id.gs1.org/00/" + rawSSCC + str(check_digit(rawSSCC))

    if (
        match(
            r"^urn:epc:id:sgln:((\d{6}\.\d{6})|(\d{7}\.\d{5})|(\d{8}\.\d{4})|(\d{9}\.\d{3})|(\d{10}\.\d{2})|(\d{11}\.\d{1})|(\d{12}\.))\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        locationref = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        rawGLN = gs1companyprefix + locationref
        extension = uri[30:]
        if extension == "0":
            return "https://id.gs1.org/414/" + rawGLN + str(check_digit(rawGLN))
        else:
            return (
                "https://id.gs1.org/414/"
                + rawGLN
                + str(check_digit(rawGLN))
                + "/254/"
                + web_uri_percent_encoder(extension)
            )

    if (
        match(
            r"^urn:epc:id:grai:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.\.))\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,16}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        assetref = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        raw_grai = "0" + gs1companyprefix + assetref
        serial = uri[30:]
        return (
            "https://id.gs1.org/8003/"
            + raw_grai
            + str(check_digit(raw_grai))
            + web_uri_percent_encoder(serial)
        )

    if (
        match(
            r"^urn:epc:id:giai:(([\d]{6}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,24})|([\d]{7}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,23})|([\d]{8}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,22})|([\d]{9}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,21})|([\d]{10}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20})|([\d]{11}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,19})|([\d]{12}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,18}))$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        assetref = uri[(partition + 1) :]
        return "https://id.gs1.org/8004/" + gs1companyprefix + web_uri_percent_encoder(assetref)

    if (
        match(
            r"^urn:epc:id:gsrn:(([\d]{6}\.[\d]{11}$)|([\d]{7}\.[\d]{10}$)|([\d]{8}\.[\d]{9}$)|([\d]{9}\.[\d]{8}$)|([\d]{10}\.[\d]{7}$)|([\d]{11}\.[\d]{6}$)|([\d]{12}\.[\d]{5}$))",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        serviceref = uri[(partition + 1) :]
        rawGSRN = gs1companyprefix + serviceref
        return "https://id.gs1.org/8018/" + rawGSRN + str(check_digit(rawGSRN))

    if (
        match(
            r"^urn:epc:id:gsrnp:(([\d]{6}\.[\d]{11}$)|([\d]{7}\.[\d]{10}$)|([\d]{8}\.[\d]{9}$)|([\d]{9}\.[\d]{8}$)|([\d]{10}\.[\d]{7}$)|([\d]{11}\.[\d]{6}$)|([\d]{12}\.[\d]{5}$))",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[17:partition]
        serviceref = uri[(partition + 1) :]
        rawGSRNP = gs1companyprefix + serviceref
        return "https://id.gs1.org/8017/" + rawGSRNP + str(check_digit(rawGSRNP))

    if (
        match(
            r"^urn:epc:id:gdti:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.\.))(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        documenttype = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        raw_gdti = gs1companyprefix + documenttype
        serial = uri[30:]
        return (
            "https://id.gs1.org/253/"
            + raw_gdti
            + str(check_digit(raw_gdti))
            + web_uri_percent_encoder(serial)
        )

    if (
        match(
            r"^urn:epc:id:cpi:((\d{6}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,24})|(\d{7}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,23})|(\d{8}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,22})|(\d{9}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,21})|(\d{10}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,20})|(\d{11}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,19})|(\d{12}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,18}))\.[\d]{1,12}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[15:partition]
        separator = uri.rfind(".")
        cpref = uri[(partition + 1) : separator]
        raw_cpi = gs1companyprefix + cpref
        serial = uri[(separator + 1) :]
        return "https://id.gs1.org/8010/" + web_uri_percent_encoder(raw_cpi) + "/8011/" + serial

    if (
        match(
            r"^urn:epc:id:sgcn:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.))\.[\d]{1,12}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        couponref = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        raw_sgcn = gs1companyprefix + couponref
        serial = uri[30:]
        return "https://id.gs1.org/255/" + raw_sgcn + str(check_digit(raw_sgcn)) + serial

    if (
        match(
            r"^urn:epc:id:ginc:([\d]{6}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,24}|[\d]{7}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,23}|[\d]{8}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,22}|[\d]{9}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,21}|[\d]{10}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20}|[\d]{11}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,19}|[\d]{12}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,18})$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        consignmentref = uri[(partition + 1) :]
        return (
            "https://id.gs1.org/401/" + gs1companyprefix + web_uri_percent_encoder(consignmentref)
        )

    if (
        match(
            r"^urn:epc:id:gsin:(([\d]{6}\.[\d]{10}$)|([\d]{7}\.[\d]{9}$)|([\d]{8}\.[\d]{8}$)|([\d]{9}\.[\d]{7}$)|([\d]{10}\.[\d]{6}$)|([\d]{11}\.[\d]{5}$)|([\d]{12}\.[\d]{4}$))",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        shipperref = uri[(partition + 1) :]
        rawGSIN = gs1companyprefix + shipperref
        return "https://id.gs1.org/402/" + rawGSIN + str(check_digit(rawGSIN))

    if (
        match(
            r"^urn:epc:id:itip:(([\d]{6}\.[\d]{7})|([\d]{7}\.[\d]{6})|([\d]{8}\.[\d]{5})|([\d]{9}\.[\d]{4})|([\d]{10}\.[\d]{3})|([\d]{11}\.[\d]{2})|([\d]{12}\.[\d]{1}))\.[\d]{2}\.[\d]{2}\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        piece = uri[31:33]
        total = uri[34:36]
        serial = uri[37:]
        return (
            "https://id.gs1.org/8006/"
            + raw_gtin
            + str(check_digit(raw_gtin))
            + piece
            + total
            + "/21/"
            + web_uri_percent_encoder(serial)
        )

    if (
        match(
            r"^urn:epc:id:upui:((\d{6}\.\d{7})|(\d{7}\.\d{6})|(\d{8}\.\d{5})|(\d{9}\.\d{4})|(\d{10}\.\d{3})|(\d{11}\.\d{2})|(\d{12}\.\d{1}))\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,28}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        serial = uri[31:]
        return (
            "https://id.gs1.org/01/"
            + raw_gtin
            + str(check_digit(raw_gtin))
            + "/235/"
            + web_uri_percent_encoder(serial)
        )

    if (
        match(
            r"^urn:epc:id:pgln:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.))$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[16:partition]
        partyref = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        rawGLN = gs1companyprefix + partyref
        return "https://id.gs1.org/417/" + rawGLN + str(check_digit(rawGLN))

    # EPC Class URIs
    if (
        match(
            r"^urn:epc:class:lgtin:(([\d]{6}\.[\d]{7})|([\d]{7}\.[\d]{6})|([\d]{8}\.[\d]{5})|([\d]{9}\.[\d]{4})|([\d]{10}\.[\d]{3})|([\d]{11}\.[\d]{2})|([\d]{12}\.[\d]{1}))\.(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-]){1,20}$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[20:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        lot = uri[35:]
        return (
            "https://id.gs1.org/01/"
            + raw_gtin
            + str(check_digit(raw_gtin))
            + "/10/"
            + web_uri_percent_encoder(lot)
        )

    # EPC ID Pattern URIs
    if (
        match(
            r"^urn:epc:idpat:sgtin:((\d{6}\.\d{7})|(\d{7}\.\d{6})|(\d{8}\.\d{5})|(\d{9}\.\d{4})|(\d{10}\.\d{3})|(\d{11}\.\d{2})|(\d{12}\.\d{1}))\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[20:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        return "https://id.gs1.org/01/" + raw_gtin + str(check_digit(raw_gtin))

    if (
        match(
            r"^urn:epc:idpat:grai:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.\.))\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[19:partition]
        assetref = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        raw_grai = "0" + gs1companyprefix + assetref
        return "https://id.gs1.org/8003/" + raw_grai + str(check_digit(raw_grai))

    if (
        match(
            r"^urn:epc:idpat:gdti:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.\.))\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[19:partition]
        documenttype = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        raw_gdti = gs1companyprefix + documenttype
        return "https://id.gs1.org/253/" + raw_gdti + str(check_digit(raw_gdti))

    if (
        match(
            r"^urn:epc:idpat:sgcn:(([\d]{6}\.[\d]{6})|([\d]{7}\.[\d]{5})|([\d]{8}\.[\d]{4})|([\d]{9}\.[\d]{3})|([\d]{10}\.[\d]{2})|([\d]{11}\.[\d]{1})|([\d]{12}\.\.))\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[19:partition]
        couponref = uri[(partition + 1) : (partition + 1 + (12 - len(gs1companyprefix)))]
        raw_sgcn = gs1companyprefix + couponref
        return "https://id.gs1.org/255/" + raw_sgcn + str(check_digit(raw_sgcn))

    if (
        match(
            r"^urn:epc:idpat:cpi:((\d{6}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,24})|(\d{7}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,23})|(\d{8}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,22})|(\d{9}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,21})|(\d{10}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,20})|(\d{11}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,19})|(\d{12}\.(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-]){1,18}))\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[18:partition]
        separator = uri.rfind(".")
        cpref = uri[(partition + 1) : (separator)]
        raw_cpi = gs1companyprefix + cpref
        return "https://id.gs1.org/8010/" + web_uri_percent_encoder(raw_cpi)

    if (
        match(
            r"^urn:epc:idpat:itip:(([\d]{6}\.[\d]{7})|([\d]{7}\.[\d]{6})|([\d]{8}\.[\d]{5})|([\d]{9}\.[\d]{4})|([\d]{10}\.[\d]{3})|([\d]{11}\.[\d]{2})|([\d]{12}\.[\d]{1}))\.[\d]{2}\.[\d]{2}\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[19:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        piece = uri[34:36]
        total = uri[37:39]
        return "https://id.gs1.org/8006/" + raw_gtin + str(check_digit(raw_gtin)) + piece + total

    if (
        match(
            r"^urn:epc:idpat:upui:((\d{6}\.\d{7})|(\d{7}\.\d{6})|(\d{8}\.\d{5})|(\d{9}\.\d{4})|(\d{10}\.\d{3})|(\d{11}\.\d{2})|(\d{12}\.\d{1}))\.\*$",
            uri,
        )
        is not None
    ):
        gs1companyprefix = uri[19:partition]
        itemref = uri[(partition + 1) : (partition + 1 + (13 - len(gs1companyprefix)))]
        raw_gtin = itemref[0:1] + gs1companyprefix + itemref[1:]
        return "https://id.gs1.org/01/" + raw_gtin + str(check_digit(raw_gtin))
    return None
