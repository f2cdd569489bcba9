"""SQLAlchemy 2 typed models. Every instant is a :class:`UTCDateTime` (aware UTC).

Statuses are stored as strings and only ever changed through the domain's
``transition()`` by the services, which also write a :class:`Transition` row.
``version`` columns give optimistic locking (a stale write raises
``StaleDataError``, which the services turn into ``Conflict``).

The tables live in one module per area, all on the one :class:`Base` (one ``MetaData``):

- :mod:`.base`: ``Base`` and the constraint naming convention ``NAMING``;
- :mod:`.reference`: departments and routing-configuration versions;
- :mod:`.customers`: customers, their contact points, promises, inbound e-mail, quarantine, attachments;
- :mod:`.complaints`: complaints, tasks and their dependencies, messages, the audit log (transitions);
- :mod:`.engine`: timers, notifications, the outbox (with its dead letters), engine runs;
- :mod:`.loop`: improvement records, their links and effectiveness checks, compensation;
- :mod:`.access`: API tokens, dashboard sessions, complaint search documents;
- :mod:`.people`: users and their mentions in notes.

Import from here (``from models.tables import Complaint``): every public name is re-exported.
"""

from __future__ import annotations

from .access import BACKEND_ONLY_SEARCH_OBJECTS, ApiToken, ComplaintSearch, WebSession
from .base import NAMING, Base
from .complaints import Complaint, Message, Task, TaskDependency, Transition
from .customers import Attachment, Customer, CustomerContact, InboundMail, MailQuarantine, Promise
from .engine import EngineRun, Notification, Outbox, Timer
from .loop import Compensation, EffectivenessCheck, Improvement, ImprovementLink
from .people import Mention, SavedView, User
from .reference import Department, RoutingConfig

__all__ = [
    "BACKEND_ONLY_SEARCH_OBJECTS",
    "NAMING",
    "ApiToken",
    "Attachment",
    "Base",
    "Compensation",
    "Complaint",
    "ComplaintSearch",
    "Customer",
    "CustomerContact",
    "Department",
    "EffectivenessCheck",
    "EngineRun",
    "Improvement",
    "ImprovementLink",
    "InboundMail",
    "MailQuarantine",
    "Mention",
    "Message",
    "Notification",
    "Outbox",
    "Promise",
    "RoutingConfig",
    "SavedView",
    "Task",
    "TaskDependency",
    "Timer",
    "Transition",
    "User",
    "WebSession",
]
