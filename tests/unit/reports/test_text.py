"""The text-table helper every plain-text table is drawn with."""

from __future__ import annotations

import pytest

from reports.text import columns


def test_columns_are_as_wide_as_their_widest_cell_two_spaces_apart() -> None:
    lines = columns(("id", "credit"), [("PO-1001", "12.50 EUR"), ("PO-2", "-")])
    assert lines == [
        "id       credit",
        "PO-1001  12.50 EUR",
        "PO-2     -",
    ]


def test_no_line_ends_in_spaces_and_cells_are_shown_as_text() -> None:
    lines = columns(("minutes", "x"), [(44640, ""), (None, "")])
    assert lines == ["minutes  x", "44640", "None"]


def test_the_rule_follows_the_headers_as_wide_as_each_column() -> None:
    lines = columns(("service", "uptime"), [("api", "99.9820")], rule=True)
    assert lines == ["service  uptime", "-------  -------", "api      99.9820"]


def test_headers_alone_make_one_line_and_a_short_row_is_refused() -> None:
    assert columns(("a", "b"), []) == ["a  b"]
    with pytest.raises((IndexError, ValueError)):
        columns(("a", "b"), [("only",)])
