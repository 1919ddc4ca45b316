"""Owners see and change only their own things: every lookup by id from an owner goes here."""

from sqlalchemy.orm import Session

from webapp.domain.errors import NotFound
from webapp.models import Project


def owned_project(session: Session, owner_id: int, project_id: int) -> Project:
    """The project if it is the owner's and not deleted; ``NotFound`` otherwise."""
    project = session.get(Project, project_id)
    if project is None or project.owner_id != owner_id or project.deleted_at is not None:
        raise NotFound(f"project {project_id}")
    return project


def owned(session: Session, owner_id: int, model, row_id: int):
    """A row of a per-project table (plan, code, batch, resource, removal…) if its project is
    one of the owner's live projects; ``NotFound`` otherwise, the same as for a missing id."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__tablename__} {row_id}")
    owned_project(session, owner_id, row.project_id)
    return row
