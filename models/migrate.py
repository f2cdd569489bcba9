"""Run Alembic migrations programmatically (used by ``closeloop db`` and the tests).

The scripts live inside the package (``models/migrations``), so an installed
closeloop migrates without an ``alembic.ini``.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from models.tables import BACKEND_ONLY_SEARCH_OBJECTS


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "models:migrations")
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Schema comparison (autogenerate) skips the search index's backend-only objects (migration 0008)."""
    return not (name or "").startswith(BACKEND_ONLY_SEARCH_OBJECTS)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        _no_statement_limit(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def _no_statement_limit(conn) -> None:
    """A migration may rewrite a large table: lift the connection's PostgreSQL statement limit
    (``models.db.PG_STATEMENT_TIMEOUT_S``) for its transaction (the pooled connection keeps its limit)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # until this transaction ends


# What each revision's downgrade deletes, as (what, count query) pairs; a revision not listed keeps
# everything (0006 folds dead letters into the older ``failed`` status; 0002 drops ``task.ack_due_at``,
# which the clocks rebuild from the audit log).
LOSSES: dict[str, list[tuple[str, str]]] = {
    "0019": [("arrival times of reprocessed inbound e-mail",
              "SELECT COUNT(*) FROM inbound_mail WHERE received_at IS NOT NULL AND received_at <> processed_at")],
    "0018": [("failed engine runs", "SELECT COUNT(*) FROM engine_run WHERE error IS NOT NULL")],
    "0017": [("outbox attempts made before a manual re-send",
              "SELECT COUNT(*) FROM outbox WHERE attempts_at_requeue > 0")],
    "0016": [("requester identities of compensation entries",
              "SELECT COUNT(*) FROM compensation WHERE requester_key IS NOT NULL")],
    "0014": [("attachments uploaded by staff", "SELECT COUNT(*) FROM attachment WHERE inbound_mail_id IS NULL"),
             ("saved views", "SELECT COUNT(*) FROM saved_view")],
    "0013": [("users", "SELECT COUNT(*) FROM app_user"), ("mentions in notes", "SELECT COUNT(*) FROM mention"),
             ("owners of API tokens", "SELECT COUNT(*) FROM api_token WHERE user_id IS NOT NULL"),
             ("task assignees resolved to users", "SELECT COUNT(*) FROM task WHERE assignee_user_id IS NOT NULL")],
    "0011": [("inbound e-mail records", "SELECT COUNT(*) FROM inbound_mail"),
             ("quarantined e-mails (raw messages)", "SELECT COUNT(*) FROM mail_quarantine"),
             ("attachment records", "SELECT COUNT(*) FROM attachment")],
    "0010": [("engine run records", "SELECT COUNT(*) FROM engine_run")],
    "0009": [("customer details (name, language, time zone, erasure)",
              "SELECT COUNT(*) FROM customer WHERE display_name IS NOT NULL OR language IS NOT NULL"
              " OR time_zone IS NOT NULL OR erased_at IS NOT NULL"),
             ("customer contact points", "SELECT COUNT(*) FROM customer_contact"),
             ("links of outbound messages to the outbox", "SELECT COUNT(*) FROM message WHERE outbox_id IS NOT NULL"),
             ("promises to customers", "SELECT COUNT(*) FROM promise")],
    # 0008's search documents are derived: its upgrade rebuilds them from the complaints
    "0007": [("reasons of dropped notifications",
              "SELECT COUNT(*) FROM notification WHERE dropped_reason IS NOT NULL OR status = 'dropped'")],
    "0005": [("improvement records", "SELECT COUNT(*) FROM improvement"),
             ("improvement links", "SELECT COUNT(*) FROM improvement_link"),
             ("effectiveness checks", "SELECT COUNT(*) FROM effectiveness_check"),
             ("compensation entries", "SELECT COUNT(*) FROM compensation"),
             ("improvement action tasks", "SELECT COUNT(*) FROM task WHERE complaint_id IS NULL"),
             ("audit rows of improvement records", "SELECT COUNT(*) FROM transition WHERE complaint_id IS NULL"),
             ("complaint root causes", "SELECT COUNT(*) FROM complaint WHERE root_cause IS NOT NULL"),
             ("customer verdicts", "SELECT COUNT(*) FROM complaint WHERE customer_satisfied IS NOT NULL")],
    "0004": [("API tokens", "SELECT COUNT(*) FROM api_token")],
    "0003": [("timers", "SELECT COUNT(*) FROM timer"), ("notifications", "SELECT COUNT(*) FROM notification"),
             ("outbox messages", "SELECT COUNT(*) FROM outbox")],
    "0001": [(f"{t} rows", f"SELECT COUNT(*) FROM {t}")
             for t in ("complaint", "customer", "task", "task_dependency", "transition", "department",
                       "routing_config")],
}


class DataLossRefused(Exception):
    """A downgrade would delete data and ``allow_data_loss`` was not given; ``losses`` has
    ``(revision, what, count)`` for every non-zero count."""

    def __init__(self, target: str, losses: list[tuple[str, str, int]]):
        self.target, self.losses = target, losses
        what = "; ".join(f"{n} {what} (undoing {rev})" for rev, what, n in losses)
        super().__init__(f"downgrading to {target} would delete {what}. Nothing was changed; run it again with "
                         "--allow-data-loss to accept that loss (take a backup first)")


def downgrade_steps(engine: Engine, revision: str) -> list[str]:
    """The revisions a downgrade to ``revision`` undoes, newest first. ``revision`` is a revision id,
    ``base``, or ``-N`` (N steps down). Raises ``ValueError`` for an unknown or higher target."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    current = current_revision(engine)
    chain: list[str] = []
    rev = current
    while rev is not None:
        chain.append(rev)
        down = script.get_revision(rev).down_revision
        assert down is None or isinstance(down, str)  # linear history: no merge revisions
        rev = down
    if revision.startswith("-") and revision[1:].isascii() and revision[1:].isdigit():
        n = int(revision[1:])
        if n > len(chain):
            raise ValueError(f"cannot go {n} steps down from {current or 'base'}: only {len(chain)} applied")
        return chain[:n]
    if revision == "base":
        return chain
    if revision not in chain:
        raise ValueError(f"revision {revision!r} is not below the current revision {current or 'base'}")
    return chain[:chain.index(revision)]


def data_loss(engine: Engine, steps: list[str]) -> list[tuple[str, str, int]]:
    """``(revision, what, count)`` of the rows undoing ``steps`` would delete (non-zero counts only)."""
    out = []
    with engine.connect() as conn:
        for rev in steps:
            for what, query in LOSSES.get(rev, []):
                n = conn.exec_driver_sql(query).scalar() or 0
                if n:
                    out.append((rev, what, int(n)))
    return out


def downgrade(engine: Engine, revision: str, *, allow_data_loss: bool = False) -> None:
    """Revert migrations down to ``revision`` (an id, ``-N`` or ``base``).

    Each revision's downgrade keeps its data or is listed in :data:`LOSSES`; when any of those
    rows exist, :class:`DataLossRefused` (with the counts) is raised and nothing changes, unless
    ``allow_data_loss``. ``ValueError`` for a target that is not below the current revision.
    """
    steps = downgrade_steps(engine, revision)
    if not allow_data_loss:
        losses = data_loss(engine, steps)
        if losses:
            raise DataLossRefused(revision, losses)
    if not steps:
        return
    down = ScriptDirectory.from_config(alembic_config(engine)).get_revision(steps[-1]).down_revision or "base"
    assert isinstance(down, str)  # linear history: no merge revisions
    revision = down
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        _no_statement_limit(conn)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
