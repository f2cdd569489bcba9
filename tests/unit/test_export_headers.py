"""A refused export header names the required columns it lacks, for every built-in format and layout."""

from __future__ import annotations

import pytest

from integrations.exports import UnknownFormat, closest_profile, missing_columns, profiles, read_export

LAYOUTS = [(name, layout) for name, p in sorted(profiles().items()) for layout in getattr(p, "layouts", ())]


def _write(tmp_path, header: list[str]):
    path = tmp_path / "export.csv"
    path.write_text(",".join(header) + "\n" + ",".join("x" for _ in header) + "\n", encoding="utf-8")
    return path


def test_every_csv_format_declares_a_layout():
    # a format without layouts could never name a missing column; JSON Lines has no header to check
    assert {name for name, _ in LAYOUTS} == set(profiles()) - {"jsonl"}


@pytest.mark.parametrize(("fmt", "layout"), LAYOUTS)
def test_each_missing_required_column_is_named_with_and_without_format(tmp_path, fmt, layout):
    for gone in layout:
        header = [c for c in layout if c != gone] + ["Notes"]
        path = _write(tmp_path, header)
        with pytest.raises(UnknownFormat) as given:
            list(read_export(path, fmt))
        assert given.value.field == "--format"
        assert str(given.value).endswith(f"does not have the columns of format {fmt!r}: it lacks {gone!r}")
        with pytest.raises(UnknownFormat) as auto:
            list(read_export(path, "auto"))
        assert f"(closest: format {fmt!r}, but it lacks {gone!r})" in str(auto.value)


def test_the_layout_closest_to_the_header_is_the_one_named():
    cfpb = profiles()["cfpb"]
    # two of the 2013 layout's three columns, one of the current layout's: the 2013 one is meant
    assert missing_columns(cfpb, ["complaint_id", "product", "Date received"]) == ("date_received",)
    assert missing_columns(cfpb, ["Complaint ID", "Product"]) == ("Date received",)
    assert missing_columns(cfpb, ["Complaint ID", "Date received", "Product"]) == ()
    assert missing_columns(cfpb, []) == ("Complaint ID", "Date received", "Product")


def test_several_missing_columns_are_all_named_in_layout_order(tmp_path):
    path = _write(tmp_path, ["Descriptor", "Borough", "Unique Key"])
    with pytest.raises(UnknownFormat, match="it lacks 'Created Date', 'Complaint Type'$"):
        list(read_export(path, "nyc311"))


def test_a_header_sharing_no_required_column_names_no_closest_format(tmp_path):
    assert closest_profile(["a", "b"]) is None
    with pytest.raises(UnknownFormat) as exc:
        list(read_export(_write(tmp_path, ["a", "b"]), "auto"))
    assert "closest" not in str(exc.value)
    assert "pass one of: airline-tweets, cfpb, closeloop" in str(exc.value)
