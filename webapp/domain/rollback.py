"""Rolling back a code: its activations undone, the code gone, the affected people removed."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from webapp.domain import audit, funnel, outbox
from webapp.domain.entitlements import RemovalDecision, decide_removals, queue_removals
from webapp.domain.errors import NotFound
from webapp.models import AccessCode, Activation, Customer, Resource, Subscription


@dataclass
class RollbackEffects:
    """What a rollback does, computed the same way for the confirmation and for the real thing."""

    code: AccessCode
    activation_count: int
    ending: list[Subscription] = field(default_factory=list)
    shortened: list[tuple[Subscription, datetime]] = field(default_factory=list)
    decisions: list[RemovalDecision] = field(default_factory=list)
    removal_ids: list[int] = field(default_factory=list)  # the Removal rows a rollback wrote

    @property
    def removal_pairs(self) -> list[tuple[int, int]]:
        """(customer id, resource id) for every Telegram removal to carry out."""
        return [(d.customer_id, r.id) for d in self.decisions for r in d.remove]

    @property
    def customers_removed(self) -> int:
        return sum(1 for d in self.decisions if d.remove)

    @property
    def customers_kept(self) -> int:
        """People losing this code's access who keep some resource through another subscription."""
        return sum(1 for d in self.decisions if d.keep)

    def resources_affected(self) -> list[tuple[Resource, int]]:
        """Each resource people will be removed from, with how many."""
        counts: dict[int, int] = defaultdict(int)
        by_id: dict[int, Resource] = {}
        for decision in self.decisions:
            for resource in decision.remove:
                counts[resource.id] += 1
                by_id[resource.id] = resource
        return [(by_id[rid], n) for rid, n in sorted(counts.items())]

    def summary(self, done: bool = False) -> str:
        """One sentence for the owner: '12 customers will be removed from …' before confirming,
        '12 customers are being removed from …' once it is done (``done=True``)."""
        affected = self.resources_affected()
        removed = self.customers_removed
        if not affected:
            head = f"Nobody {'was' if done else 'will be'} removed from any channel or group"
        else:
            names = _join_names([resource.title for resource, _ in affected])
            verb = ("is being" if removed == 1 else "are being") if done else "will be"
            head = f"{_people(removed)} {verb} removed from {names}"
        kept = self.customers_kept
        if kept == 1:
            head += "; 1 keeps access through another subscription"
        elif kept:
            head += f"; {kept} keep access through other subscriptions"
        return head + "."


def _people(n: int) -> str:
    return f"{n} customer" if n == 1 else f"{n} customers"


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def preview_rollback(session: Session, project_id: int, code_id: int, now: datetime):
    """What ``rollback_code`` would do now, without changing anything."""
    code = _live_code(session, project_id, code_id)
    return _effects(session, code, now)


def rollback_code(
    session: Session, project_id: int, code_id: int, *, owner_id: int | None, now: datetime
) -> RollbackEffects:
    """Delete the code and its activations, take back what they gave, queue the removals.

    The code is marked deleted first with a conditional UPDATE, which locks its row: activations
    racing with the rollback then find it gone and are refused. Subscriptions that only this code
    paid for end now; ones also paid by other codes lose exactly this code's share. Removal rows are
    written in the same transaction, so the Telegram side cannot be forgotten.
    """
    deleted = session.execute(
        update(AccessCode)
        .where(
            AccessCode.id == code_id,
            AccessCode.project_id == project_id,
            AccessCode.deleted_at.is_(None),
        )
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    if deleted.rowcount != 1:
        raise NotFound("no such code")
    code = session.get(AccessCode, code_id, populate_existing=True)
    # Lock the customers (in id order, as activation locks one) so an activation of another
    # code by the same customer cannot change a subscription between reading it here and
    # writing it back: it waits, then extends what the rollback left.
    session.execute(
        select(Customer.id)
        .where(Customer.id.in_(select(Activation.customer_id).where(Activation.code_id == code_id)))
        .order_by(Customer.id)
        .with_for_update()
    )
    effects = _effects(session, code, now)
    for subscription in effects.ending:
        subscription.ended_at = now
        subscription.end_reason = "rolled_back"
        funnel.record_subscription_step(
            session,
            subscription.id,
            subscription.customer_id,
            "ended",
            "rolled_back",
            now,
            code=code,
        )
    for subscription, new_end in effects.shortened:
        subscription.ends_at = new_end
    outbox.cancel_unclaimed_confirmations(session, [s.id for s in effects.ending], now)
    removals = [
        removal
        for decision in effects.decisions
        for removal in queue_removals(
            session, decision, project_id, "rolled_back", now, code_id=code_id
        )
    ]
    session.execute(delete(Activation).where(Activation.code_id == code_id))
    audit.record(
        session,
        project_id,
        "code.rolled_back",
        code_id=code_id,
        owner_id=owner_id,
        now=now,
        details={
            "code": code.code,
            "activations": effects.activation_count,
            "removals": len(effects.removal_pairs),
            "summary": effects.summary(done=True),
        },
    )
    session.flush()
    effects.removal_ids = [removal.id for removal in removals]
    return effects


def _live_code(session: Session, project_id: int, code_id: int) -> AccessCode:
    code = session.get(AccessCode, code_id)
    if code is None or code.project_id != project_id or code.deleted_at is not None:
        raise NotFound("no such code")
    return code


def _effects(session: Session, code: AccessCode, now: datetime) -> RollbackEffects:
    activations = session.scalars(
        select(Activation)
        .where(Activation.code_id == code.id)
        .options(
            selectinload(Activation.subscription),
            selectinload(Activation.customer).load_only(Customer.id),
        )
        .order_by(Activation.id)
        # Fresh rows: after the locks above, not what this session read before them.
        .execution_options(populate_existing=True)
    ).all()
    effects = RollbackEffects(code=code, activation_count=len(activations))
    for activation in activations:
        subscription = activation.subscription
        if subscription.ended_at is not None:
            continue  # already over; nothing left to take back
        others = session.scalar(
            select(Activation.id)
            .where(
                Activation.subscription_id == subscription.id,
                Activation.code_id != code.id,
            )
            .limit(1)
        )
        if others is None:
            effects.ending.append(subscription)
            continue
        if subscription.ends_at is None or activation.ends_after is None:
            continue  # lifetime paid by another code too: it stays lifetime
        share = activation.ends_after - activation.ends_before
        new_end = subscription.ends_at - share
        if new_end <= now:
            effects.ending.append(subscription)
        else:
            effects.shortened.append((subscription, new_end))
    ending_ids = {s.id for s in effects.ending}
    effects.decisions = [
        decide_removals(session, subscription, now, ending=ending_ids)
        for subscription in effects.ending
    ]
    return effects
