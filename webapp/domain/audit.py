"""The audit trail of code actions."""

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from webapp.domain.core_sql import connection_of
from webapp.models import AuditEvent

NEW_EVENT = insert(AuditEvent.__table__)


def record(
    session: Session,
    project_id: int,
    action: str,
    *,
    now: datetime,
    code_id: int | None = None,
    owner_id: int | None = None,
    customer_id: int | None = None,
    details: dict | None = None,
) -> None:
    """Add an event to the trail, in the caller's transaction (a Core insert, sent at once)."""
    connection_of(session).execute(
        NEW_EVENT,
        {
            "project_id": project_id,
            "code_id": code_id,
            "owner_id": owner_id,
            "customer_id": customer_id,
            "action": action,
            "details": details or {},
            "created_at": now,
        },
    )
