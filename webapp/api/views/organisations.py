"""Organisations on the chain, and the acting organisation's inventory."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.outputs import InventoryOutput, OrganisationListOutput
from webapp.api.schema import read_responses
from webapp.lots import selectors
from webapp.organisations.selectors import participant_list


class OrganisationListApi(APIView):
    @extend_schema(responses=read_responses(OrganisationListOutput, by_id=False, org=False))
    def get(self, request: Request) -> Response:
        rows = participant_list()
        return Response(
            {
                "results": [
                    {"slug": o.slug, "name": o.name, "address": o.address, "roles": o.role_names}
                    for o in rows
                ]
            }
        )


class InventoryApi(APIView):
    @extend_schema(responses=read_responses(InventoryOutput, by_id=False))
    def get(self, request: Request) -> Response:
        holdings = selectors.inventory(organisation=acting_organisation(request))
        return Response(
            {
                "chain_id": settings.CHAIN_ID,
                "results": [
                    {
                        "lot_id": h.lot_id,
                        "quantity": int(h.quantity),
                        "name": h.name,
                        "unit": h.unit,
                        "kind": h.kind_code,
                        "quarantined": h.quarantined,
                    }
                    for h in holdings
                ],
            }
        )
