"""Random damage to a valid import file, and the lines an importer must account for."""

from __future__ import annotations

from hypothesis import strategies as st

# Edits that can break a line without adding a quote: separators, line ends, NUL, bytes that
# are not UTF-8, text that is.
DAMAGE = st.sampled_from(
    [b",", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3", "é".encode(), b" "]
)


@st.composite
def corrupted(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` (a header line, then lines without quotes) with random damage to its data
    lines and perhaps one stray quote: a file whose every data line is a record of its own,
    since no quoted field can span lines."""
    split = valid.index(b"\n") + 1
    header, body = valid[:split], bytearray(valid[split:])
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(body)))
        cut = draw(st.integers(0, 3))
        body[at : at + cut] = draw(DAMAGE) if draw(st.booleans()) else b""
    if draw(st.booleans()):
        at = draw(st.integers(0, len(body)))
        body[at:at] = b'"'
    return header + bytes(body)


def data_lines(data: bytes) -> list[int]:
    """The numbers of the lines after the header that hold anything but a line end."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [number for number, line in enumerate(lines, 1) if number > 1 and line.strip(b"\r")]
