"""Triage: risk flags, severity (P1 most severe) and the reasons shown to a person."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from closeloop.config import load_config
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.triage import Triage, TriagePolicy, TriageResult

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRIAGE = Triage()


def facts(**kw) -> ComplaintFacts:
    base = dict(source="cfpb", external_ref="1", received_at=AT)
    base.update(kw)
    return ComplaintFacts(**base)


# ------------------------------------------------------------------ flags, table-driven

FLAG_CASES = [
    # (id, facts kwargs, earlier complaints, expected flags)
    ("nothing", {}, 0, ()),
    ("older-american", {"tags": ("Older American",)}, 0, ("vulnerable_customer",)),
    ("servicemember", {"tags": ("Servicemember",)}, 0, ("vulnerable_customer",)),
    ("both-tags-split", {"tags": ("Older American", "Servicemember")}, 0, ("vulnerable_customer",)),
    ("tag-case-insensitive", {"tags": ("older american",)}, 0, ("vulnerable_customer",)),
    ("other-tag", {"tags": ("Student",)}, 0, ()),
    ("twitter-channel", {"channel": "twitter"}, 0, ("public_exposure",)),
    ("Twitter-channel-case", {"channel": "Twitter"}, 0, ("public_exposure",)),
    ("weibo-channel", {"channel": "weibo"}, 0, ("public_exposure",)),
    ("web-channel", {"channel": "Web"}, 0, ()),
    ("media-word", {"text": "I will take this to the media."}, 0, ("public_exposure",)),
    ("MEDIA-upper", {"text": "MEDIA will hear about it"}, 0, ("public_exposure",)),
    ("immediately-not-media", {"text": "Please fix this immediately."}, 0, ()),
    ("multimedia-not-media", {"text": "the multimedia package failed"}, 0, ()),
    ("reporter", {"text": "a reporter called me"}, 0, ("public_exposure",)),
    ("lawyer", {"text": "My lawyer will contact you."}, 0, ("legal_threat",)),
    ("attorney", {"text": "I have retained an attorney"}, 0, ("legal_threat",)),
    ("sue", {"text": "I will sue you"}, 0, ("legal_threat",)),
    ("issue-not-sue", {"text": "my issue is not resolved, pursue it"}, 0, ()),
    ("legal-action", {"text": "I am considering legal action"}, 0, ("legal_threat",)),
    ("refund", {"text": "I want a refund"}, 0, ("compensation_demanded",)),
    ("money-back", {"text": "give me my money back"}, 0, ("compensation_demanded",)),
    ("zh-lawyer", {"text": "我要找律师处理这件事"}, 0, ("legal_threat",)),
    ("zh-media", {"text": "我会向媒体反映"}, 0, ("public_exposure",)),
    ("zh-expose", {"text": "我要曝光你们"}, 0, ("public_exposure",)),
    ("zh-refund", {"text": "质量太差，要求退款"}, 0, ("compensation_demanded",)),
    ("zh-court", {"text": "我会起诉你们"}, 0, ("legal_threat",)),
    ("zh-none", {"text": "手机很好用"}, 0, ()),
    ("repeat", {}, 2, ("repeat_complainer",)),
    ("everything", {"tags": ("Servicemember",), "channel": "twitter",
                    "text": "my lawyer wants a refund"}, 1,
     ("compensation_demanded", "legal_threat", "public_exposure", "repeat_complainer", "vulnerable_customer")),
]


@pytest.mark.parametrize("kw,earlier,expected", [c[1:] for c in FLAG_CASES], ids=[c[0] for c in FLAG_CASES])
def test_flags(kw, earlier, expected):
    result = TRIAGE.assess(facts(**kw), earlier_complaints_in_window=earlier)
    assert isinstance(result, TriageResult)
    assert result.flags == expected


def test_unsplit_cfpb_tag_string_is_not_a_tag():
    # The CFPB export cell "Older American, Servicemember" is split by the import
    # profile; triage itself compares whole tags.
    result = TRIAGE.assess(facts(tags=("Older American, Servicemember",)))
    assert "vulnerable_customer" not in result.flags


def test_cfpb_profile_splits_combined_tag_cell_into_two_vulnerable_tags():
    from integrations.formats import CFPB

    row = {
        "Date received": "2023-08-23", "Product": "Debt collection", "Sub-product": "", "Issue": "x",
        "Sub-issue": "", "Consumer complaint narrative": "", "Company": "ACME", "State": "TX",
        "Tags": "Older American, Servicemember", "Submitted via": "Web", "Complaint ID": "123",
    }
    f, skip = CFPB().parse(row)
    assert skip is None
    assert f.tags == ("Older American", "Servicemember")
    result = TRIAGE.assess(f)
    assert result.flags == ("vulnerable_customer",)
    assert result.reasons == ("vulnerable_customer: tag Older American, Servicemember",)
    assert result.severity == "P2"


# ------------------------------------------------------------------ severity

SEVERITY_CASES = [
    # (id, facts kwargs, earlier, base_severity, expected)
    ("default-P3", {}, 0, None, "P3"),
    ("public+1", {"channel": "twitter"}, 0, None, "P2"),
    ("vulnerable+1", {"tags": ("Older American",)}, 0, None, "P2"),
    ("repeat+1", {}, 3, None, "P2"),
    ("refund+1", {"text": "refund please"}, 0, None, "P2"),
    ("legal+2", {"text": "see you in court"}, 0, None, "P1"),
    ("two-flags", {"channel": "twitter", "tags": ("Servicemember",)}, 0, None, "P1"),
    ("floor-at-P1", {"channel": "twitter", "tags": ("Servicemember",), "text": "lawyer refund"}, 5, None, "P1"),
    ("base-P4", {}, 0, "P4", "P4"),
    ("base-P4+1", {"channel": "twitter"}, 0, "P4", "P3"),
    ("base-P4+legal", {"text": "lawyer"}, 0, "P4", "P2"),
    ("base-P2", {}, 0, "P2", "P2"),
    ("base-P2+legal-floor", {"text": "lawyer"}, 0, "P2", "P1"),
    ("base-P1", {}, 0, "P1", "P1"),
]


@pytest.mark.parametrize("kw,earlier,base,expected", [c[1:] for c in SEVERITY_CASES],
                         ids=[c[0] for c in SEVERITY_CASES])
def test_severity(kw, earlier, base, expected):
    result = TRIAGE.assess(facts(**kw), earlier_complaints_in_window=earlier, base_severity=base)
    assert result.severity == expected


def test_base_severity_from_route_overrides_policy_default():
    t = Triage(TriagePolicy(default_severity="P4"))
    assert t.assess(facts()).severity == "P4"
    assert t.assess(facts(), base_severity="P2").severity == "P2"


def test_custom_weights():
    t = Triage(TriagePolicy(weights={"public_exposure": 3}))
    assert t.assess(facts(channel="twitter")).severity == "P1"
    # a flag without a weight is reported but does not raise severity
    r = t.assess(facts(text="lawyer"))
    assert r.flags == ("legal_threat",)
    assert r.severity == "P3"


def test_invalid_default_severity_rejected():
    with pytest.raises(ValueError, match="default_severity"):
        TriagePolicy(default_severity="P5")


def test_negative_weight_rejected_naming_the_flag():
    with pytest.raises(ValueError, match=r"weights\.public_exposure"):
        TriagePolicy(weights={"public_exposure": -1})


def test_zero_weights_keep_base_severity_even_with_every_flag():
    t = Triage(TriagePolicy(default_severity="P4", weights={}))
    r = t.assess(facts(tags=("Servicemember",), channel="twitter", text="lawyer refund"),
                 earlier_complaints_in_window=1)
    assert len(r.flags) == 5
    assert r.severity == "P4"


# ------------------------------------------------------------------ reasons

def test_reasons_text_one_line_per_flag_in_flag_order():
    r = TRIAGE.assess(
        facts(tags=("Older American", "Servicemember"), channel="twitter", text="My LAWYER demands a Refund"),
        earlier_complaints_in_window=2,
    )
    assert r.flags == tuple(sorted(r.flags))
    assert r.reasons == (
        "compensation_demanded: mentions 'refund'",
        "legal_threat: mentions 'lawyer'",
        "public_exposure: social-media channel 'twitter'",
        "repeat_complainer: 2 earlier complaint(s) in 90 days",
        "vulnerable_customer: tag Older American, Servicemember",
    )


def test_public_exposure_reason_names_keyword_when_not_social():
    r = TRIAGE.assess(facts(text="This will go viral"))
    assert r.reasons == ("public_exposure: mentions 'go viral'",)  # the whole intent phrase


def test_public_exposure_from_channel_takes_precedence_over_keyword():
    r = TRIAGE.assess(facts(channel="twitter", text="journalist"))
    assert r.flags == ("public_exposure",)
    assert r.reasons == ("public_exposure: social-media channel 'twitter'",)


def test_zh_reasons_quote_the_keyword():
    r = TRIAGE.assess(facts(source="zh-reviews", text="差评，我要退款，不然找律师，还要发微博"))
    assert r.flags == ("compensation_demanded", "legal_threat", "public_exposure")
    assert r.reasons == (
        "compensation_demanded: mentions '退款'",
        "legal_threat: mentions '律师'",
        "public_exposure: mentions '发微博'",
    )
    assert r.severity == "P1"


def test_repeat_reason_uses_policy_window():
    r = Triage(TriagePolicy(repeat_window_days=30)).assess(facts(), earlier_complaints_in_window=1)
    assert r.reasons == ("repeat_complainer: 1 earlier complaint(s) in 30 days",)


def test_no_flags_no_reasons():
    r = TRIAGE.assess(facts(text="Just a question about my statement"))
    assert (r.flags, r.reasons, r.severity) == ((), (), "P3")


def test_default_config_triage_matches_policy_defaults():
    cfg_triage = load_config().triage
    for kw, earlier, base, _ in [c[1:] for c in SEVERITY_CASES]:
        f = facts(**kw)
        assert cfg_triage.assess(f, earlier_complaints_in_window=earlier, base_severity=base) == \
            TRIAGE.assess(f, earlier_complaints_in_window=earlier, base_severity=base)


@pytest.mark.parametrize("text,flag", [
    ("my lawyers are ready", "legal_threat"),
    ("we sued them before", "legal_threat"),
    ("I want it refunded", "compensation_demanded"),
    ("already tweeted about it", "public_exposure"),
])
def test_plain_inflections_still_flag(text, flag):
    f = ComplaintFacts(source="t", external_ref="1", received_at=datetime(2026, 1, 1, tzinfo=UTC), text=text)
    assert flag in Triage().assess(f).flags


# ------------------------------------------------------------------ risk wording in the text (testers' report)

TEXT_RISK_CASES = [
    # (id, text, expected flags)
    ("the-report", "I will sue you, my lawyer, I am 85 years old and disabled, posting on twitter",
     ("legal_threat", "public_exposure", "vulnerable_customer")),
    ("facebook", "I shared this on Facebook", ("public_exposure",)),
    ("post-online", "I will post online what you did", ("public_exposure",)),
    ("go-public", "I am going public with this", ("public_exposure",)),
    ("news", "the local news will hear of it", ("public_exposure",)),
    ("not-going-to-post", "I am not going to post online, just fix it", ()),
    ("wont-press", "I won't go to the press", ()),
    ("wont-curly", "I won\u2019t tweet about it", ()),
    ("negation-other-clause", "I did not get my card. I will post on twitter", ("public_exposure",)),
    ("elderly", "my elderly father was charged twice", ("vulnerable_customer",)),
    ("dementia", "he has dementia and signed without understanding", ("vulnerable_customer",)),
    ("bereaved", "I was recently bereaved", ("vulnerable_customer",)),
    ("aged-70", "I am aged 70 and live alone", ("vulnerable_customer",)),
    ("90-year-old", "my 90-year-old mother", ("vulnerable_customer",)),
    ("young-age", "my 3 year old son and I, 34 years old", ()),
    ("not-disabled", "I am not disabled", ()),
    ("percent-not-age", "I am 100 percent sure", ()),
    ("zh-weibo", "我要发微博", ("public_exposure",)),
    ("zh-news", "我会找新闻记者", ("public_exposure",)),
    ("zh-no-expose", "我不会曝光，但请尽快处理", ()),
    ("zh-discontent-expose", "我对你们很不满要曝光", ("public_exposure",)),
    ("zh-old", "我是老人，行动不便", ("vulnerable_customer",)),
    ("zh-age", "我今年80岁了", ("vulnerable_customer",)),
    ("zh-disabled", "我是残疾人", ("vulnerable_customer",)),
    ("zh-all", "我要找律师起诉你们，我是老人，还残疾，要发微博曝光",
     ("legal_threat", "public_exposure", "vulnerable_customer")),
    # second tester's report: a negation that does not negate the threat
    ("not-hesitate-post", "I will not hesitate to post online.", ("public_exposure",)),
    ("not-afraid-public", "I am not afraid to go public with this.", ("public_exposure",)),
    ("without-hesitation", "I will without hesitation go to the press", ("public_exposure",)),
    # ... a stated age without "years old"
    ("i-am-67", "I am 67 and my pension payment bounced.", ("vulnerable_customer",)),
    ("im-67", "I'm 67 and my pension payment bounced.", ("vulnerable_customer",)),
    ("im-curly-70", "I\u2019m 70, retired", ("vulnerable_customer",)),
    ("i-am-67-dollars", "I am 67 dollars short", ()),
    ("i-am-70-days-late", "I am 70 days late on nothing", ()),
    ("i-am-64", "I am 64 and tired of this", ()),
    ("zh-seventy", "本人已经七十岁了", ("vulnerable_customer",)),
    ("zh-seventy-odd", "我七十多岁了，不会用手机", ("vulnerable_customer",)),
    ("zh-sixty-five", "我母亲六十五岁", ("vulnerable_customer",)),
    ("zh-hundred", "老奶奶一百岁", ("vulnerable_customer",)),
    ("zh-sixty-four", "我六十四岁", ()),
    ("zh-eighty-odd-digits", "我80多岁了", ("vulnerable_customer",)),
    # ... a platform or the word "news" mentioned, no intent to go public
    ("good-news", "The good news is the card works now", ()),
    ("saw-ad-on-facebook", "I saw your ad on Facebook and signed up", ()),
    ("read-in-the-news", "I read about your new app in the news", ()),
    ("told-good-news", "They told me the good news that it was fixed", ()),
    ("paid-online", "I tried to post my payment online", ()),
    ("zh-saw-on-weibo", "我在微博上看到你们的广告", ()),
    ("zh-found-on-weibo", "我发现微博上也有人反映", ()),
    # ... intent phrases: a verb and a medium
    ("post-on-facebook", "I will post on facebook", ("public_exposure",)),
    ("tell-the-news", "I will tell the news", ("public_exposure",)),
    ("contact-the-media", "I am going to contact the media", ("public_exposure",)),
    ("go-to-the-press", "next I go to the press", ("public_exposure",)),
    ("share-on-twitter", "I will share on twitter", ("public_exposure",)),
    ("review-everywhere", "I will leave a review everywhere", ("public_exposure",)),
    ("report-you-to-media", "I will report you to the media", ("public_exposure",)),
    ("zh-tell-media", "我要告诉所有媒体", ("public_exposure",)),
    ("zh-on-news", "让你们上新闻", ("public_exposure",)),
    # ... a negated legal threat is not one; compensation words stay unnegated
    ("not-want-to-sue", "I do not want to sue anyone", ()),
    ("wont-sue", "I won't sue you", ()),
    ("zh-wont-sue", "我不会起诉你们", ()),
    ("not-hesitate-sue", "I will not hesitate to sue", ("legal_threat",)),
    ("no-choice-but-sue", "I have no choice but to sue", ("legal_threat",)),
    ("if-not-refunded-sue", "if you don't refund me I will sue", ("compensation_demanded", "legal_threat")),
    ("not-refunded", "I was not refunded", ("compensation_demanded",)),
    ("zh-dont-force-me", "不要逼我起诉你们", ("legal_threat",)),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in TEXT_RISK_CASES], ids=[c[0] for c in TEXT_RISK_CASES])
def test_social_media_and_vulnerability_wording_in_the_text(text, expected):
    assert TRIAGE.assess(facts(text=text)).flags == expected


def test_the_reports_narrative_is_P1_with_every_reason_named():
    r = TRIAGE.assess(facts(text="I will sue you, my lawyer, I am 85 years old and disabled, posting on twitter"))
    assert r.severity == "P1"
    assert r.reasons == ("legal_threat: mentions 'sue'", "public_exposure: mentions 'posting on twitter'",
                         "vulnerable_customer: mentions '85 years old'")


def test_vulnerability_words_age_and_negations_are_configurable():
    from closeloop.config import parse_config

    default = open("closeloop/config/default.toml", encoding="utf-8").read()
    p = parse_config(default).triage.policy
    assert p.vulnerable_age == 65 and "dementia" in p.vulnerable_keywords and "not" in p.negation_words
    mine = parse_config(default.replace('[triage]\n', '[triage]\nvulnerable_keywords = ["student"]\n'
                                                   'vulnerable_age = 0\nnegation_words = []\n')).triage
    assert mine.assess(facts(text="I am a student")).flags == ("vulnerable_customer",)
    assert mine.assess(facts(text="I am 85 years old and disabled")).flags == ()
    assert mine.assess(facts(text="I will not post on twitter")).flags == ("public_exposure",)
    with pytest.raises(ValueError, match="vulnerable_age"):
        TriagePolicy(vulnerable_age=200)


def test_exposure_intent_lists_and_negation_exceptions_are_configurable():
    from closeloop.config import parse_config

    default = open("closeloop/config/default.toml", encoding="utf-8").read()
    mine = parse_config(default.replace('[triage]\n', '[triage]\nexposure_verbs = ["shout"]\n'
                                                   'exposure_media = ["rooftops"]\nexposure_phrases = []\n'
                                                   'exposure_reactions = []\nnegation_exceptions = []\n')).triage
    assert mine.assess(facts(text="I will shout it on the rooftops")).flags == ("public_exposure",)
    assert mine.assess(facts(text="I will go public")).flags == ()
    assert mine.assess(facts(text="I will not hesitate to sue")).flags == ()
    # the deprecated mention list still loads, each word flagging by itself as it did; the built-in phrases stay
    old = parse_config(default.replace('[triage]\n', '[triage]\nmedia_keywords = ["blog"]\n')).triage
    assert old.assess(facts(text="it is all on my blog")).flags == ("public_exposure",)
    assert old.assess(facts(text="I will go public")).flags == ("public_exposure",)
