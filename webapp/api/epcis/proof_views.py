"""`GET /epcis/events/{eventID}/proof`: the ``provenant-anchored-item/1`` proof that a
captured event is in a Merkle batch anchored on chain (`webapp.epcis.anchoring`), which
``provenant-verify`` checks offline. Only an organisation that may see the event gets it."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.epcis.query_views import EpcisApi, NoSuchResource, epcis_problem
from webapp.epcis.anchoring import NotAnchored, ProofUnavailable, epcis_event_proof
from webapp.epcis.selectors import event_by_id


class EventProofApi(EpcisApi):
    """One visible event's anchoring proof: 404 for an event one may not see, 409 while
    it is not anchored yet, 503 while the node cannot give the proof."""

    def get(self, request: Request, event_id: str) -> Response:
        event = event_by_id(organisation=acting_organisation(request), event_id=event_id)
        if event is None:
            raise NoSuchResource(f"No event {event_id!r} among the events you may see.")
        try:
            return Response(epcis_event_proof(event))
        except NotAnchored as exc:
            return epcis_problem(409, "ResourceNotAnchoredException", "Not anchored yet", str(exc))
        except ProofUnavailable as exc:
            return epcis_problem(
                503, "ImplementationException", "Proof unavailable right now", str(exc)
            )
