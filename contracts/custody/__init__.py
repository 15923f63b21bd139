"""Key custody: where an organisation's keys live (keystore files, a PKCS#11 HSM, Azure Key
Vault) and the one interface every caller signs and wraps through."""
