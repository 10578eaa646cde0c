"""WeChat Pay v2 signing as the stand-in does it: MD5 or HMAC-SHA256 over sorted fields.

The algorithms are wechatpy's (`wechatpy.pay.utils`), so the stand-in and the merchant
side agree byte for byte: non-empty fields except `sign`, sorted by name, joined as
`k=v&...&key=<merchant key>`, digested, upper-case hex.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"
SIGN_TYPES = frozenset({MD5, HMAC_SHA256})

# How long WeChat Pay waits between notify attempts until it gets SUCCESS (seconds).
# https://pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_7
WECHAT_PAY_NOTIFY_SCHEDULE = (15, 15, 30, 180, 1800, 1800, 1800, 1800, 3600)


class Forgery(StrEnum):
    WRONG_KEY = "wrong_key"  # signed with a key that is not the merchant's
    TAMPERED_AMOUNT = "tampered_amount"  # correctly signed, then total_fee changed


def sign(fields: Mapping[str, str], key: str, sign_type: str = MD5) -> str:
    if sign_type not in SIGN_TYPES:
        raise ValueError(f"sign_type must be one of {sorted(SIGN_TYPES)}, got {sign_type!r}")
    unsigned = {k: v for k, v in fields.items() if k != "sign"}
    if sign_type == HMAC_SHA256:
        return str(calculate_signature_hmac(unsigned, key))
    return str(calculate_signature(unsigned, key))


def signature_valid(fields: Mapping[str, str], key: str) -> bool:
    """Check `sign` with the algorithm named by `sign_type` (MD5 when absent)."""
    sign_type = fields.get("sign_type") or MD5
    if sign_type not in SIGN_TYPES:
        return False
    return bool(fields.get("sign")) and sign(fields, key, sign_type) == fields["sign"]


def signed_xml(fields: Mapping[str, str], key: str, sign_type: str = MD5) -> str:
    return str(dict_to_xml(dict(fields), sign(fields, key, sign_type)))


def forge(fields: Mapping[str, str], key: str, sign_type: str, forgery: Forgery) -> str:
    """Render a notify that a correct verifier must refuse."""
    if forgery is Forgery.WRONG_KEY:
        return signed_xml(fields, key[::-1] + "forged", sign_type)
    tampered = dict(fields)
    signature = sign(fields, key, sign_type)
    tampered["total_fee"] = str(int(fields.get("total_fee", "0")) + 1)
    return str(dict_to_xml(tampered, signature))
