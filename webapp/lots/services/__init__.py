"""Writes about lots: register, hand off (initiate, accept, reject, cancel), bundle and
unbundle, transform. Each validates, asks the chain whether it would accept the call
(pre-flight), and records an operation; the submitter signs and sends it.

Every function raises django's ValidationError with field-level messages for bad input
or a call the chain would refuse, and then nothing has been written.
"""

from webapp.lots.services.bundles import bundle_create, bundle_unpack
from webapp.lots.services.common import Claims
from webapp.lots.services.handoffs import (
    acceptance_policy_set,
    handoff_accept,
    handoff_acceptance_warning,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
)
from webapp.lots.services.lots import (
    Registration,
    RegistrationRefused,
    lot_metadata_discard,
    lot_register,
    lot_register_many,
)
from webapp.lots.services.transformations import Output, transformation_record

__all__ = [
    "Claims",
    "Output",
    "Registration",
    "RegistrationRefused",
    "acceptance_policy_set",
    "bundle_create",
    "bundle_unpack",
    "handoff_accept",
    "handoff_acceptance_warning",
    "handoff_cancel",
    "handoff_initiate",
    "handoff_reject",
    "lot_metadata_discard",
    "lot_register",
    "lot_register_many",
    "transformation_record",
]
