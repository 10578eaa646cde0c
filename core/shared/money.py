"""Money in integer minor units (fen, cents, Stars). Decimal only to parse and display."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.shared.errors import DomainError

# Currency code -> number of minor-unit digits. Telegram Stars (XTR) are indivisible.
CURRENCIES: dict[str, int] = {"CNY": 2, "USD": 2, "XTR": 0}

BASIS_POINTS = 10_000


def check_currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise DomainError("error.money.unknown_currency", currency=currency)
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | Decimal, currency: str) -> Money:
        """Parse a human amount in major units ("12.50") into minor units, exactly."""
        digits = CURRENCIES[check_currency(currency)]
        try:
            value = Decimal(str(text).strip())
        except InvalidOperation as exc:
            raise DomainError("error.money.invalid_amount", text=str(text)) from exc
        if not value.is_finite():
            raise DomainError("error.money.invalid_amount", text=str(text))
        scaled = value.scaleb(digits)
        if scaled != scaled.to_integral_value():
            raise DomainError("error.money.too_precise", text=str(text), currency=currency)
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-CURRENCIES[self.currency])

    def format(self) -> str:
        """"12.50 CNY": the amount in major units with every minor digit, and the currency.
        Written from the integer: the same text as the decimal value's, without building
        one."""
        digits = CURRENCIES[self.currency]
        if digits == 0:
            return f"{self.amount} {self.currency}"
        whole, minor = divmod(abs(self.amount), 10**digits)
        sign = "-" if self.amount < 0 else ""
        return f"{sign}{whole}.{minor:0{digits}d} {self.currency}"

    def __str__(self) -> str:
        return self.format()

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise DomainError(
                "error.money.currency_mismatch", left=self.currency, right=other.currency
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def is_positive(self) -> bool:
        return self.amount > 0

    def share_bps(self, basis_points: int) -> Money:
        """The share of this amount at `basis_points` (1 bp = 0.01 %), rounded half up.

        Callers take the remainder for the other party, so parts always sum to the whole.
        """
        if not 0 <= basis_points <= BASIS_POINTS:
            raise DomainError("error.money.invalid_basis_points", basis_points=basis_points)
        share = (Decimal(self.amount) * basis_points / BASIS_POINTS).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return Money(int(share), self.currency)
