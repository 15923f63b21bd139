"""A local server that speaks the Azure Key Vault keys REST protocol, for tests, the signing
benchmark and the demo, so the real SDK (azure-keyvault-keys) runs end to end without Azure.

What it shares with the service: HTTPS only (a self-signed CA and server certificate for
``localhost`` / ``127.0.0.1`` are generated into the state directory; clients trust
``ca.pem`` through ``connection_verify``), the bearer challenge (a request without a token
gets ``401`` and a ``WWW-Authenticate: Bearer authorization=…, resource=…`` header, as the
SDK expects before its first real request), ``api-version`` on every call, the JSON shapes
of key bundles, sign / wrapkey / unwrapkey results and ``{"error": {"code",
"message"}}`` errors, versioned key identifiers, and responses that carry public key
material only.

What it is not: a vault. It accepts one static token instead of Entra ID tokens, has no
RBAC, and keeps private keys as plain PEM files (mode 0600) under ``<state-dir>/keys`` so a
restarted server still has them. Never point production at it.

Run it in the foreground with
``python -m deploy.local.keyvault --state-dir DIR [--port N] [--token T]``; it prints
the URL, the CA file and the token on one line and serves until SIGTERM or SIGINT.
"""

from deploy.local.keyvault.server import LocalKeyVault
from deploy.local.keyvault.vault import KEY_NAME, MANAGED_HSM_RESOURCE, TENANT, VAULT_RESOURCE

__all__ = ["KEY_NAME", "MANAGED_HSM_RESOURCE", "TENANT", "VAULT_RESOURCE", "LocalKeyVault"]
