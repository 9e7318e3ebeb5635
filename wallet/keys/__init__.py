"""Keys and signing. Nothing outside this package touches key material.

`Signer` is the one interface; each back end lives in its own module.
"""

from wallet.keys.base import Signature, SignedTransaction, Signer
from wallet.keys.local import PrivateKeySigner

__all__ = ["PrivateKeySigner", "Signature", "SignedTransaction", "Signer"]
