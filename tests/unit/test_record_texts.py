"""The texts recurrence detection writes on the records it proposes, in the reader's language, recognised on
rows written before their codes were stored."""

from __future__ import annotations

from closeloop.domain.record_texts import recognise, recurring_texts, render

FACTS = [["category", "Debt collection"], ["product", "Loan, personal"]]
UNTIL = "2026-03-01T09:00:00+00:00"


def test_stored_english_and_rendered_chinese():
    title, problem, texts = recurring_texts(FACTS, 23, 14, UNTIL)
    assert title == "Recurring complaints: category 'Debt collection', product 'Loan, personal'"
    assert problem == ("23 complaints with category 'Debt collection', product 'Loan, personal' within 14 days "
                       f"(up to {UNTIL}); proposed by recurrence detection")
    assert render(texts["title"], "zh") == "重复出现的投诉：类别“Debt collection”，产品“Loan, personal”"
    assert render(texts["title"], "fr") == title and render(None, "zh") is None
    assert render({"code": "nope", "facts": [], "params": {}}, "zh") is None


def test_an_old_row_is_recognised_from_its_text_and_match_in_any_key_order():
    title, problem, texts = recurring_texts(FACTS, 23, 14, UNTIL)
    match = {"product": "Loan, personal", "category": "Debt collection"}  # as PostgreSQL's JSONB gives it back
    assert recognise(title, problem, match) == texts
    assert recognise(title[:40], problem + " edited", match) == {}
    assert recognise(title, problem, {"category": "Debt collection", "product": "Other"}) == {}
