"""The replay report's data-quality notes read as English for one and for many (issue 16: "1 requests")."""

from __future__ import annotations

from closeloop.services.replay.replay import DataQuality
from closeloop.services.replay.report import _caveats


def _texts(**counts) -> list[str]:
    return [c["text"] for c in _caveats(DataQuality(**counts), {})]


def test_one_request_is_singular():
    assert _texts(no_close_date=1, closed_before_created=1) == [
        "1 request has no close date in the export: its task stays open.",
        "1 request was closed before it was created: left open."]


def test_many_requests_are_plural():
    assert _texts(no_close_date=17, closed_before_created=2) == [
        "17 requests have no close date in the export: their tasks stay open.",
        "2 requests were closed before they were created: left open."]


def test_in_progress_agrees_with_its_count():
    one, many = _texts(in_progress=1)[0], _texts(in_progress=80)[0]
    assert one.startswith('1 complaint is still "In progress"')
    assert many.startswith('80 complaints are still "In progress"')


def test_the_report_names_a_configuration_without_the_home_directory(tmp_path, monkeypatch):
    from closeloop.services.replay.report import shown_path

    inside = tmp_path / "examples" / "nyc311.toml"
    monkeypatch.chdir(tmp_path)
    assert shown_path(str(inside)) == "examples/nyc311.toml"
    assert shown_path("/somewhere/else/ops.toml") == "ops.toml"
    assert shown_path("<built-in default>") == "<built-in default>"


def test_a_source_without_a_mapping_says_so():
    from closeloop.services.capa.root_cause import MAPPED_SOURCES, from_data

    assert {"cfpb", "nyc311", "airline-tweets"} <= MAPPED_SOURCES
    code, note = from_data("webform", {"category": "billing"})
    assert code == "undetermined" and note == "no mapping for source 'webform': its data names no cause"
    code, note = from_data("cfpb", {"category": "something new"})
    assert code == "undetermined" and note.startswith("not in the replay's mapping table")


def test_departments_get_their_own_seeded_pace():
    from closeloop.services.replay.replay import Behaviour

    a, b = Behaviour(7), Behaviour(7)
    paces = {d: a.pace(d) for d in ("HPD", "DOT", "NYPD", "DSNY")}
    assert all(0.5 <= p <= 2.0 for p in paces.values()) and len(set(paces.values())) > 1  # they differ
    assert {d: b.pace(d) for d in reversed(list(paces))} == paces  # same seed, any order: same pace
    assert Behaviour(8).pace("HPD") != paces["HPD"]


def test_modelled_follow_up_verdicts_carry_a_caveat_like_cfpb_disputes():
    """Every NYC 311 follow-up verdict is modelled as satisfied (the export records none): the summary's label and
    caveats say so, as they say for CFPB that "no dispute recorded" is not satisfaction."""
    from closeloop.services.replay.report import _follow_up_figures

    def follow_ups(*sources: str) -> tuple[str, list[str]]:
        plan = {i: {"source": s} for i, s in enumerate(sources, 1)} | {-1: {"errors": []}}
        return (_follow_up_figures([], [], {}, plan)["satisfied_label"],
                [c["text"] for c in _caveats(DataQuality(), plan) if c["about"] == "follow_ups"])

    label, notes = follow_ups("nyc311", "nyc311")
    assert label == "satisfied (modelled)"
    assert notes == ['The NYC 311 export records no customer verdict: every follow-up verdict of its complaints is '
                     'modelled as "satisfied" in this replay (none can be "not satisfied"), so these figures say '
                     'nothing about how the customers felt.']
    label, notes = follow_ups("cfpb")
    assert label == "no dispute recorded" and len(notes) == 1 and notes[0].startswith("The CFPB export records")
    label, notes = follow_ups("cfpb", "nyc311", "airline-tweets")  # one replay of several exports: each said
    assert label == "satisfied (modelled) or no dispute recorded" and len(notes) == 2
    assert notes[1].startswith("The NYC 311 and airline-tweets exports record no customer verdict")
    assert follow_ups() == ("satisfied", [])  # not a replay: the customers' own verdicts, nothing modelled


def test_the_acknowledgement_caveat_names_each_sources_own_facts():
    """The caveat of an ``api`` source said "only when a request was closed", NYC 311's facts: a source's own facts
    are named (NYC 311 records only the close), any other source's caveat is source-neutral."""

    def ack(*sources: str) -> list[str]:
        plan = {i: {"source": s} for i, s in enumerate(sources, 1)} | {-1: {"errors": []}}
        return [c["text"] for c in _caveats(DataQuality(), plan) if c["about"] == "notifications"]

    [api] = ack("api")
    assert api.startswith("The api export records no acknowledgement or start of work: the replay acknowledges none")
    assert "closed" not in api
    [nyc] = ack("nyc311")
    assert nyc.startswith("The NYC 311 export records no acknowledgement or start of work (only when a request was "
                          "closed): ")
    [both] = ack("nyc311", "api", "cfpb")
    assert both.startswith("The NYC 311 and api exports record no acknowledgement or start of work (NYC 311: only "
                           "when a request was closed): ")
    assert ack("cfpb") == []
