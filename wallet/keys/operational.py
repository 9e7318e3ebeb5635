"""The bank's operational keys, one per role, from whichever back end the settings name."""

from __future__ import annotations

from wallet.errors import ConfigurationError, UnknownKeyError
from wallet.keys.base import Signer
from wallet.keys.keystore import OPERATIONAL_ROLES, Keystore, operational_keys
from wallet.settings import Settings


def operational_signers(settings: Settings, keystore: Keystore) -> dict[str, Signer]:
    """The bank's key per role: from the local keystore, or generated in and used from the PKCS#11
    token (`TDW_SIGNER=pkcs11`)."""
    if settings.signer == "keystore":
        return dict(operational_keys(keystore))
    from wallet.keys.pkcs11 import Pkcs11Token  # needs the PKCS#11 module only when configured

    if settings.pkcs11_pin is None:
        raise ConfigurationError("TDW_SIGNER=pkcs11 needs TDW_PKCS11_PIN")
    token = Pkcs11Token(settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin)
    signers: dict[str, Signer] = {}
    for role in OPERATIONAL_ROLES:
        try:
            signers[role] = token.signer(f"role:{role}")
        except UnknownKeyError:
            signers[role] = token.generate(f"role:{role}")
    return signers
