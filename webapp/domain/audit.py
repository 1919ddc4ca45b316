"""The audit trail of code actions."""

from datetime import datetime

from sqlalchemy.orm import Session

from webapp.models import AuditEvent


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
) -> AuditEvent:
    event = AuditEvent(
        project_id=project_id,
        code_id=code_id,
        owner_id=owner_id,
        customer_id=customer_id,
        action=action,
        details=details or {},
        created_at=now,
    )
    session.add(event)
    return event
