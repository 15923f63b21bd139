"""Partner REST API, /api/v1/. Thin views: parse, call one service or selector, serialize.

Writes answer 202 Accepted with the operation (and its URL in `Location`); they all need
an `Idempotency-Key` header. Errors are problem details (application/problem+json).
One module per resource; `common` holds what they share.
"""

from webapp.api.views.bundles import BundleCreateApi, BundleUnpackApi
from webapp.api.views.certificates import (
    CertificateIssueApi,
    CertificateListApi,
    CertificateRevokeApi,
)
from webapp.api.views.common import IDEMPOTENCY, ItemInput, OperationOutput, WriteView
from webapp.api.views.documents import DocumentDownloadApi, DocumentOutput, DocumentUploadApi
from webapp.api.views.handoffs import (
    HandoffAcceptApi,
    HandoffCancelApi,
    HandoffInitiateApi,
    HandoffListApi,
    HandoffOutput,
    HandoffRejectApi,
)
from webapp.api.views.lots import LotDetailApi, LotListApi, LotOutput, LotRegisterApi
from webapp.api.views.operations import OperationDetailApi, OperationListApi
from webapp.api.views.organisations import InventoryApi, OrganisationListApi
from webapp.api.views.transformations import TransformationApi

__all__ = [
    "IDEMPOTENCY",
    "BundleCreateApi",
    "BundleUnpackApi",
    "CertificateIssueApi",
    "CertificateListApi",
    "CertificateRevokeApi",
    "DocumentDownloadApi",
    "DocumentOutput",
    "DocumentUploadApi",
    "HandoffAcceptApi",
    "HandoffCancelApi",
    "HandoffInitiateApi",
    "HandoffListApi",
    "HandoffOutput",
    "HandoffRejectApi",
    "InventoryApi",
    "ItemInput",
    "LotDetailApi",
    "LotListApi",
    "LotOutput",
    "LotRegisterApi",
    "OperationDetailApi",
    "OperationListApi",
    "OperationOutput",
    "OrganisationListApi",
    "TransformationApi",
    "WriteView",
]
