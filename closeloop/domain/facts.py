"""The normalized shape of one incoming complaint, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .customer import CustomerProfile
from .errors import InvalidInput
from .machine import require_aware

#: Fact names a routing rule may test (``[rules.when]`` keys in the configuration).
ROUTABLE_FACTS = (
    "source", "product", "sub_product", "issue", "sub_issue",
    "category", "subcategory", "channel", "company", "region",
)


@dataclass(frozen=True)
class ComplaintFacts:
    """One complaint as taken in, before triage and routing.

    - ``source`` + ``external_ref``: the idempotency key (same pair = same complaint).
    - ``received_at``: UTC-aware instant the complaint was received.
    - ``customer_ref``: a pseudonymous customer key (never a name, phone or e-mail) or None.
    - ``category``: what de-duplication compares (CFPB product, NYC 311 complaint type).
    - ``tags``: source tags such as CFPB "Older American" or "Servicemember".
    - ``text``: the customer's own words (may be empty).
    - ``extra``: source fields kept for reporting, never used for routing
      (for example the NYC 311 ``Agency`` that really handled the request).
    - ``customer``: what the customer told us about themselves (name, language, zone, contact
      points); needs ``customer_ref``. Personal data: kept on the customer row, never in audit rows.
    """

    source: str
    external_ref: str
    received_at: datetime
    category: str = ""
    subcategory: str = ""
    product: str = ""
    sub_product: str = ""
    issue: str = ""
    sub_issue: str = ""
    channel: str = ""
    company: str = ""
    region: str = ""
    customer_ref: str | None = None
    tags: tuple[str, ...] = ()
    text: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    customer: CustomerProfile | None = None

    def __post_init__(self) -> None:
        if not self.source:
            raise InvalidInput("source", "is required")
        if not self.external_ref or not self.external_ref.strip():
            raise InvalidInput("external_ref", "is required")
        if len(self.external_ref) > 128:
            raise InvalidInput("external_ref", "longer than 128 characters")
        require_aware(self.received_at, "received_at")
        if self.customer_ref is not None and len(self.customer_ref) > 128:
            raise InvalidInput("customer_ref", "longer than 128 characters")
        if self.customer is not None and not self.customer.empty and not self.customer_ref:
            raise InvalidInput("customer_ref", "required when customer details are given")
        for name in ("text", "category", "subcategory", "product", "sub_product", "issue", "sub_issue",
                     "channel", "company", "region", "external_ref"):
            if "\x00" in getattr(self, name):
                raise InvalidInput(name, "contains a NUL character")

    def fact(self, name: str) -> str:
        """The value of a routable fact (see :data:`ROUTABLE_FACTS`)."""
        value: str = getattr(self, name)
        return value
