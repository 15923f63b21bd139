"""Proofs a third party can check: building them (:mod:`.build`), the Merkle trees of
anchored batches (:mod:`.merkle`), the sustainability roll-up the verifier recomputes
(:mod:`.figures`), the bounded JSON reader for documents from strangers (:mod:`.safe_json`)
and the offline verifier (:mod:`.verify`, ``python -m contracts.proofs.verify``)."""
