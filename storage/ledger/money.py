"""Money as integer cents: parsing what people type, and formatting amounts for display.

No float ever touches an amount. Every currency is treated as having two minor digits (one
platform currency per deployment, EUR by default).
"""

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

# Symbols shown in front of an amount; any other currency is written after it, as its code.
CURRENCY_SYMBOLS: dict[str, str] = {"EUR": "€", "USD": "$", "GBP": "£"}

# Codes recognised in typed amounts, so that "20 USD" in a EUR deployment gets a clear refusal
# rather than "not a number". The pilot countries' currencies are among them.
KNOWN_CURRENCY_CODES = frozenset(
    {"EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK"}
    | {"INR", "PEN", "XOF", "LBP", "TJS", "KHR"}
)
_SYMBOL_CODES = {symbol: code for code, symbol in CURRENCY_SYMBOLS.items()} | {"¥": "JPY"}

DEFAULT_MAXIMUM = 100_000_000  # 1,000,000.00 in cents

# Longer input is refused before it is looked at, so hostile text costs nothing to reject.
MAX_INPUT_LENGTH = 40

_ASCII_DIGITS = frozenset("0123456789")
_MINUS_SIGNS = frozenset("-\u2212\u2012\u2013")  # hyphen-minus, minus sign, figure and en dash
_DECIMAL_MARKS = frozenset(".,")
# Thousands separators that cannot be mistaken for a decimal mark: the space (with the no-break
# and thin spaces that French and Swiss formats use) and the Swiss apostrophe.
_GROUP_SPACES = frozenset(" \u00a0\u2009\u202f")
_GROUP_ONLY = _GROUP_SPACES | {"'", "\u2019"}
_NUMBER_CHARS = _ASCII_DIGITS | _DECIMAL_MARKS | _GROUP_ONLY
# A currency marker is the run of characters at either end that cannot belong to the number.
_MARKER_STOP = _NUMBER_CHARS | _MINUS_SIGNS

_EXAMPLE = "like 20 or 20.50"
_GROUPING_RULE = "Thousands separators go between groups of three digits, like 1,000,000.50"


class AmountError(ValueError):
    """An amount that cannot be accepted; the message says which rule it broke, for the user."""


def parse_amount(text: str, *, currency: str = "EUR", maximum: int | None = None) -> int:
    """Read a positive amount of ``currency`` typed by a person; return it in cents.

    Accepted: ``20``, ``20.5``, ``20,50``, ``€20``, ``20 €``, ``20 EUR``, ``eur 20``, ``€ 20.00``,
    surrounding whitespace, and thousands separators where they cannot be misread:

    - ``1,000.50`` and ``1.000,50``: with both marks present, the last one is the decimal mark;
    - ``1,000,000`` and ``1.000.000``: a mark that appears twice cannot be the decimal mark;
    - ``1 000,50``, ``1'000.50``: spaces (also no-break and thin) and apostrophes only group.

    Refused, each with a message naming the rule: empty text, anything that is not a number
    (``abc``, ``NaN``, ``∞``, emoji), scientific notation (``1e9``), digits other than 0-9
    (``٢٠``: mixing scripts makes amounts hard to check, so this is deliberate), a minus sign,
    zero, more than two decimals, misplaced separators (``1,00,000``), another currency
    (``$20`` when the deployment runs in EUR), more than ``maximum`` cents (default
    1,000,000.00) and text longer than ``MAX_INPUT_LENGTH`` characters.

    A single mark followed by exactly three digits (``1,000`` or ``20.001``) is ambiguous, one
    thousand to some readers and one to others, so it is refused as having three decimals,
    with a hint to write the thousands without a separator.

    The parser scans the text a constant number of times (no regular expression), so hostile
    input of any length fails fast.
    """
    code = currency.upper()
    limit = DEFAULT_MAXIMUM if maximum is None else maximum
    negative, number = _strip_currency_and_sign(_precheck(text), code)
    cents = _cents_from_number(number)
    if negative or cents == 0:
        raise AmountError(f"Enter a positive amount, {_EXAMPLE}")
    if cents > limit:
        raise AmountError(f"The most you can enter is {format_money(limit, code)}")
    return cents


def _precheck(text: str) -> str:
    """Refuse text that is empty, too long or written with other digits; return it stripped."""
    stripped = text.strip()
    if not stripped:
        raise AmountError(f"Enter an amount, {_EXAMPLE}")
    if len(stripped) > MAX_INPUT_LENGTH:
        raise AmountError(f"Amounts are at most {MAX_INPUT_LENGTH} characters long")
    if any(c.isdigit() and c not in _ASCII_DIGITS for c in stripped):
        raise AmountError(f"Write the amount with the digits 0-9, {_EXAMPLE}")
    return stripped


def _strip_currency_and_sign(text: str, currency: str) -> tuple[bool, str]:
    """Split off one currency marker (before or after) and a leading minus sign.

    Returns whether the amount was negative, and the number that is left.
    """
    negative = text[0] in _MINUS_SIGNS
    if negative:
        text = text[1:].lstrip()
    prefix, text = _take_marker(text, from_end=False)
    suffix, text = _take_marker(text, from_end=True)
    if prefix and suffix:
        raise AmountError("Write the currency once, like €20 or 20 EUR")
    marker = prefix or suffix
    if marker:
        _check_currency(marker, currency)
    if text[:1] in _MINUS_SIGNS:  # "€-20"
        negative = True
        text = text[1:].lstrip()
    return negative, text


def _take_marker(text: str, *, from_end: bool) -> tuple[str, str]:
    """Take the run of non-number characters at one end of ``text`` (a currency, perhaps)."""
    chars = reversed(text) if from_end else iter(text)
    length = 0
    for c in chars:
        if c in _MARKER_STOP:
            break
        length += 1
    if from_end:
        return text[len(text) - length :], text[: len(text) - length].rstrip()
    return text[:length], text[length:].lstrip()


def _check_currency(marker: str, currency: str) -> None:
    """Accept the deployment's symbol or code; refuse others by name, and anything else."""
    marker = marker.strip()
    code = _SYMBOL_CODES.get(marker) or marker.upper()
    if code == currency:
        return
    if code in KNOWN_CURRENCY_CODES:
        raise AmountError(f"Amounts are in {currency} here, not {code}: enter it in {currency}")
    raise AmountError(f"Enter the amount as a number, {_EXAMPLE}")


def _cents_from_number(number: str) -> int:
    """Turn digits, decimal mark and thousands separators into cents."""
    if not any(c in _ASCII_DIGITS for c in number):
        raise AmountError(f"Enter the amount as a number, {_EXAMPLE}")
    if any(c not in _NUMBER_CHARS for c in number):
        if "e" in number.lower():
            raise AmountError("Write the amount in full, in digits, like 20.50")
        raise AmountError(f"Enter the amount as a number, {_EXAMPLE}")
    integer, fraction = _split_at_decimal_mark(number)
    return _integer_digits(integer, number) * 100 + _fraction_cents(fraction, integer, number)


def _split_at_decimal_mark(number: str) -> tuple[str, str]:
    """Find the decimal mark: the last of '.' and ',' if both occur, or either if it occurs once.

    A mark that occurs more than once, alone, separates thousands. Returns the integer part
    and the fraction ("" when there is no decimal mark).
    """
    at = max(number.rfind("."), number.rfind(","))
    if at < 0:
        return number, ""
    both_marks = "." in number and "," in number
    if not both_marks and number.count(number[at]) > 1:
        return number, ""
    if at == len(number) - 1:
        raise AmountError(f"Write one or two digits after the decimal mark, {_EXAMPLE}")
    return number[:at], number[at + 1 :]


def _integer_digits(integer: str, number: str) -> int:
    """Read the whole units, checking that any thousands separator groups digits by three."""
    separators = {" " if c in _GROUP_SPACES else c for c in integer if c not in _ASCII_DIGITS}
    if not separators:
        return int(integer or "0")  # ".50" is fifty cents
    if len(separators) > 1:
        raise AmountError(f"{_GROUPING_RULE}: {number}")
    groups = "".join(" " if c in _GROUP_SPACES else c for c in integer).split(separators.pop())
    head_ok = 1 <= len(groups[0]) <= 3
    if not head_ok or any(len(g) != 3 for g in groups[1:]):
        raise AmountError(f"{_GROUPING_RULE}: {number}")
    return int("".join(groups))


def _fraction_cents(fraction: str, integer: str, number: str) -> int:
    """Read up to two decimals as cents."""
    if any(c not in _ASCII_DIGITS for c in fraction):
        raise AmountError(f"{_GROUPING_RULE}: {number}")
    if len(fraction) > 2:
        hint = ""
        if len(fraction) == 3 and integer.isdigit():  # "1,000": one thousand, or one?
            hint = f". To mean {integer}{fraction}, leave out the separator"
        raise AmountError(f"Amounts have at most two decimals: {number}{hint}")
    return int(fraction.ljust(2, "0")) if fraction else 0


def format_money(cents: int, currency: str = "EUR") -> str:
    """``€1,234.56``, ``-€5.00``, ``$20.00``, ``£3.50``; other currencies ``1,234.56 CHF``."""
    code = currency.upper()
    sign = "-" if cents < 0 else ""
    units, hundredths = divmod(abs(cents), 100)
    digits = f"{units:,}.{hundredths:02d}"
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {code}"


# Enough precision for any amount that fits a BigInteger column, so no step ever rounds.
_EXACT = Context(prec=40, traps=[InvalidOperation])
_CENT = Decimal("0.01")
_LARGEST_UNITS_EXPONENT = 15  # below 10**16 units: 10**18 cents fits a signed 64-bit integer


def cents_from_decimal(value: Decimal, *, round_half_even: bool = False) -> int:
    """Convert an exact decimal amount (``Decimal("125.50")``) to cents, for importers.

    Sub-cent precision is refused unless ``round_half_even`` asks for banker's rounding
    (``0.125`` becomes 12 cents, ``0.135`` becomes 14). The value may be negative.
    """
    if not value.is_finite():
        raise AmountError(f"An amount must be a finite number, not {value}")
    if value and value.adjusted() > _LARGEST_UNITS_EXPONENT:
        raise AmountError(f"Amounts must be below 10^{_LARGEST_UNITS_EXPONENT + 1}: {value}")
    cents = value.quantize(_CENT, rounding=ROUND_HALF_EVEN, context=_EXACT)
    if cents != value and not round_half_even:
        raise AmountError(f"Amounts have at most two decimals: {value}")
    return int(cents.scaleb(2, context=_EXACT))
