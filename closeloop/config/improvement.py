"""Configuration of the close-the-loop features: ``[improvement]`` and ``[compensation]``.

::

    [improvement]
    root_causes = { product_defect = "product defect", ... }   # the taxonomy (default: the domain's ROOT_CAUSES)
    sub_codes = { product_defect = ["battery", "screen"] }     # optional; a code listed here only takes these
    match_on = ["category", "product"]    # complaint facts that, with the root cause, make a record's match key
    effectiveness_weeks = 6               # the check runs N weeks after implementation
    min_reduction = 0.3                   # effective when the matching rate fell by at least this fraction
    min_before = 5                        # ... with at least this many complaints in the before-window
    cluster_size = 5                      # K matching complaints within cluster_days without a record
    cluster_days = 14                     #   propose a record (status proposed, actor system)
    recent_verified_days = 90             # new complaints still link to a record verified this recently
    action_business_days = 10             # default due date of a corrective/preventive action
    # (customers are told of an effective record by the "improved" entry of [customers] milestones)

    [compensation]
    currency = "USD"
    kinds = ["refund", "credit", "voucher", "goodwill", "fee_waiver", "other"]
    [compensation.caps."*"]               # per category ("*" = any), per severity; amounts as strings ("50.00")
    P1 = "500"
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field, field_validator

from closeloop.domain.improvement import ROOT_CAUSES
from closeloop.domain.triage import SEVERITIES

MATCH_FIELDS = ("category", "subcategory", "product", "sub_product", "issue", "sub_issue", "company", "region",
                "source")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ImprovementModel(_Strict):
    root_causes: dict[str, str] = Field(default_factory=lambda: dict(ROOT_CAUSES))
    sub_codes: dict[str, list[str]] = {}
    match_on: list[str] = ["category", "product"]
    effectiveness_weeks: int = Field(6, ge=1, le=104)
    min_reduction: float = Field(0.3, gt=0, le=1)
    min_before: int = Field(5, ge=1)
    cluster_size: int = Field(5, ge=2, le=100_000)
    cluster_days: int = Field(14, ge=1, le=3650)
    recent_verified_days: int = Field(90, ge=0, le=3650)
    action_business_days: int = Field(10, ge=1, le=365)

    @field_validator("root_causes")
    @classmethod
    def _codes(cls, v: dict[str, str]) -> dict[str, str]:
        if "undetermined" not in v:
            raise ValueError("must contain 'undetermined' (resolving without a known cause needs it)")
        for code in v:
            if not code or "." in code or len(code) > 60:
                raise ValueError(f"code {code!r}: 1-60 characters, no dot (dots separate sub-codes)")
        return v

    @field_validator("match_on")
    @classmethod
    def _match(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in MATCH_FIELDS]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError(f"must be distinct complaint facts from {', '.join(MATCH_FIELDS)}; bad: {bad or v}")
        return v


def _decimal(value: str, where: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not a decimal amount") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"{where}: must be a non-negative amount")
    return d


class CompensationModel(_Strict):
    currency: str = Field("USD", pattern="^[A-Z]{3}$")
    kinds: list[str] = ["refund", "credit", "voucher", "goodwill", "fee_waiver", "other"]
    caps: dict[str, dict[str, str]] = {"*": {"P1": "500", "P2": "200", "P3": "100", "P4": "50"}}

    @field_validator("caps")
    @classmethod
    def _caps(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for cat, per in v.items():
            for sev, amount in per.items():
                if sev not in SEVERITIES:
                    raise ValueError(f"{cat}.{sev}: unknown severity; use {', '.join(SEVERITIES)}")
                _decimal(amount, f"{cat}.{sev}")
        return v

    def cap(self, category: str, severity: str) -> Decimal | None:
        """The cap for ``category`` and ``severity`` (the category's own, else ``"*"``); None: no cap set."""
        for key in (category, "*"):
            per = self.caps.get(key)
            if per is not None and severity in per:
                return Decimal(per[severity])
        return None
