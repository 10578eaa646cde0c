"""The phone cipher storage uses: round trips, refuses a wrong key, explains a bad one."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from storage.repositories.identity import FernetCipher


def test_a_number_round_trips_and_is_not_readable_in_between() -> None:
    cipher = FernetCipher(Fernet.generate_key().decode())
    token = cipher.encrypt("+8613812345678")
    assert "13812345678" not in token
    assert cipher.decrypt(token) == "+8613812345678"


def test_another_key_cannot_read_it() -> None:
    token = FernetCipher(Fernet.generate_key().decode()).encrypt("+8613812345678")
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        FernetCipher(Fernet.generate_key().decode()).decrypt(token)


def test_a_malformed_key_is_named_when_first_used() -> None:
    cipher = FernetCipher(lambda: "not-a-key")
    with pytest.raises(RuntimeError, match="YUEBAN_ENCRYPTION_KEY is not a Fernet key"):
        cipher.encrypt("+8613812345678")
