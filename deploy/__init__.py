"""Deployment material: the Besu network (``deploy/besu``) and the local development
stand-ins (:mod:`deploy.local`). Not part of the installed package."""
