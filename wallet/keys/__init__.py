"""Keys and signing. Nothing outside this package touches key material.

`Signer` is the one interface; each back end lives in its own module, and `operational_signers` picks
the bank's role keys from the one the settings name.
"""

from wallet.keys.base import Signature, SignedTransaction, Signer
from wallet.keys.local import PrivateKeySigner
from wallet.keys.operational import operational_signers

__all__ = ["PrivateKeySigner", "Signature", "SignedTransaction", "Signer", "operational_signers"]
