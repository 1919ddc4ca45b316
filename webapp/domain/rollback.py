"""Rolling back a code: its activations undone, the code gone, the affected people removed."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from webapp.domain import audit, funnel, outbox
from webapp.domain.customers import lock_customers
from webapp.domain.entitlements import RemovalDecision, decide_removals, queue_removals
from webapp.domain.errors import NotFound
from webapp.i18n import D_, ND_, Worded, joined_names
from webapp.models import AccessCode, Activation, Customer, Resource, Subscription


@dataclass
class RollbackEffects:
    """What a rollback does, computed the same way for the confirmation and for the real thing."""

    codes: list[AccessCode]
    activation_count: int
    ending: list[Subscription] = field(default_factory=list)
    shortened: list[tuple[Subscription, datetime]] = field(default_factory=list)
    decisions: list[RemovalDecision] = field(default_factory=list)
    removal_ids: list[int] = field(default_factory=list)  # the Removal rows a rollback wrote
    # The code a removal is filed under (its page lists it), per subscription that ends.
    paying_code: dict[int, int] = field(default_factory=dict)

    @property
    def code(self) -> AccessCode | None:
        return self.codes[0] if self.codes else None

    @property
    def removal_pairs(self) -> list[tuple[int, int]]:
        """(customer id, resource id) for every Telegram removal to carry out."""
        return [(d.customer_id, r.id) for d in self.decisions for r in d.remove]

    @property
    def customers_removed(self) -> int:
        return len({d.customer_id for d in self.decisions if d.remove})

    @property
    def customers_kept(self) -> int:
        """People losing this code's access who keep some resource through another subscription."""
        return len({d.customer_id for d in self.decisions if d.keep})

    def failing_removals(self) -> list[tuple[Resource, int]]:
        """Resources where the bot lacks the rights to remove anyone: those removals will fail
        until the owner fixes the bot's rights there."""
        return [
            (resource, n)
            for resource, n in self.resources_affected()
            if not (resource.bot_is_admin and resource.can_restrict_members)
        ]

    def resources_affected(self) -> list[tuple[Resource, int]]:
        """Each resource people will be removed from, with how many."""
        people: dict[int, set[int]] = defaultdict(set)
        by_id: dict[int, Resource] = {}
        for decision in self.decisions:
            for resource in decision.remove:
                people[resource.id].add(decision.customer_id)
                by_id[resource.id] = resource
        return [(by_id[rid], len(who)) for rid, who in sorted(people.items())]

    def summary(self, done: bool = False) -> Worded:
        """One sentence for the owner: '12 customers will be removed from …' before confirming,
        '12 customers are being removed from …' once it is done (``done=True``)."""
        affected = self.resources_affected()
        removed = self.customers_removed
        if not affected and done:
            head = Worded(D_("Nobody was removed from any channel or group"))
        elif not affected:
            head = Worded(D_("Nobody will be removed from any channel or group"))
        else:
            names = joined_names([resource.title for resource, _ in affected])
            if done:
                head = ND_(
                    "%(num)s customer is being removed from %(names)s",
                    "%(num)s customers are being removed from %(names)s",
                    removed, names=names,
                )
            else:
                head = ND_(
                    "%(num)s customer will be removed from %(names)s",
                    "%(num)s customers will be removed from %(names)s",
                    removed, names=names,
                )
        kept = self.customers_kept
        if kept:
            return ND_(
                "%(head)s; %(num)s keeps access through another subscription.",
                "%(head)s; %(num)s keep access through other subscriptions.",
                kept, head=head,
            )
        return Worded(D_("%(head)s."), head=head)


def preview_rollback(session: Session, project_id: int, code_id: int, now: datetime):
    """What ``rollback_code`` would do now, without changing anything."""
    code = _live_code(session, project_id, code_id)
    return _effects(session, [code], _activations_of([code.id]), now)


def rollback_code(
    session: Session, project_id: int, code_id: int, *, owner_id: int | None, now: datetime
) -> RollbackEffects:
    """Delete the code and its activations, take back what they gave, queue the removals.

    The code is marked deleted first with a conditional UPDATE, which locks its row: activations
    racing with the rollback then find it gone and are refused. Subscriptions that only this code
    paid for end now; ones also paid by other codes lose exactly this code's share. Removal rows are
    written in the same transaction, so the Telegram side cannot be forgotten.
    """
    effects = rollback_codes(session, project_id, [code_id], owner_id=owner_id, now=now)
    if not effects.codes:
        raise NotFound("no such code")
    return effects


def preview_rollback_codes(
    session: Session, project_id: int, code_ids: list[int], now: datetime
) -> RollbackEffects:
    """What ``rollback_codes`` would do now: one combined preview for a batch or a selection."""
    codes = _live_codes(session, project_id, code_ids)
    return _effects(session, codes, _activations_of([c.id for c in codes]), now)


def rollback_codes(
    session: Session, project_id: int, code_ids: list[int], *, owner_id: int | None,
    now: datetime, batch_id: int | None = None,
) -> RollbackEffects:
    """Roll back several codes as one: the live ones of ``code_ids`` in the project.

    Taken together, not one by one, so a customer who activated two of the codes is counted
    once, and a subscription paid only by codes of the set ends instead of being shortened twice.
    """
    if not code_ids:
        return RollbackEffects(codes=[], activation_count=0)
    deleted = session.scalars(
        update(AccessCode)
        .where(
            AccessCode.id.in_(code_ids),
            AccessCode.project_id == project_id,
            AccessCode.deleted_at.is_(None),
        )
        .values(deleted_at=now)
        .returning(AccessCode.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not deleted:
        return RollbackEffects(codes=[], activation_count=0)
    ids = sorted(deleted)
    codes = list(
        session.scalars(
            select(AccessCode)
            .where(AccessCode.id.in_(ids))
            .order_by(AccessCode.id)
            .execution_options(populate_existing=True)
        )
    )
    # Lock the customers so an activation of another code by the same customer cannot change a
    # subscription between reading it here and writing it back: it waits, then extends what the
    # rollback left.
    lock_customers(session, select(Activation.customer_id).where(Activation.code_id.in_(ids)))
    activations = list(session.scalars(_activations_of(ids)))
    effects = _effects(session, codes, activations, now)
    removals = _apply(session, effects, project_id, now)
    session.execute(delete(Activation).where(Activation.code_id.in_(ids)))
    per_code = defaultdict(int)
    for activation in activations:
        per_code[activation.code_id] += 1
    for code in codes:
        audit.record(
            session,
            project_id,
            "code.rolled_back",
            code_id=code.id,
            owner_id=owner_id,
            now=now,
            details={
                "code": code.code,
                "activations": per_code[code.id],
                "removals": sum(1 for r in removals if r.code_id == code.id),
                "summary": effects.summary(done=True) if len(codes) == 1 else None,
                "batch_id": batch_id,
            },
        )
    session.flush()
    effects.removal_ids = [removal.id for removal in removals]
    return effects


def preview_rollback_activation(
    session: Session, project_id: int, activation_id: int, now: datetime
) -> RollbackEffects:
    """What ``rollback_activation`` would do now."""
    activation = _live_activation(session, project_id, activation_id)
    return _effects(session, [activation.code], [activation], now)


def rollback_activation(
    session: Session, project_id: int, activation_id: int, *, owner_id: int | None, now: datetime
) -> RollbackEffects:
    """Undo one customer's activation of a (multi-use) code: a refund of one person.

    The code stays and gets the activation back (its count goes down by one); the customer's
    subscription loses exactly what this activation gave, with the removals that follow.
    """
    activation = _live_activation(session, project_id, activation_id)
    # The code's row before the customer's, the order an activation takes them in (its count,
    # then its customer): the other order let a refund and the same customer's new tap of the
    # code each hold what the other waited for, and PostgreSQL aborted one as a deadlock.
    session.execute(
        select(AccessCode.id).where(AccessCode.id == activation.code_id).with_for_update()
    )
    lock_customers(session, select(Activation.customer_id).where(Activation.id == activation_id))
    activation = session.get(Activation, activation_id, populate_existing=True)
    if activation is None:
        raise NotFound("no such activation")
    code = activation.code
    effects = _effects(session, [code], [activation], now)
    removals = _apply(session, effects, project_id, now, code_id=code.id)
    customer = activation.customer
    session.execute(delete(Activation).where(Activation.id == activation_id))
    session.execute(
        update(AccessCode)
        .where(AccessCode.id == code.id, AccessCode.activation_count > 0)
        .values(activation_count=AccessCode.activation_count - 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(code)
    audit.record(
        session,
        project_id,
        "activation.rolled_back",
        code_id=code.id,
        owner_id=owner_id,
        customer_id=customer.id,
        now=now,
        details={
            "code": code.code,
            "telegram_user_id": customer.telegram_user_id,
            "username": customer.username,
            "removals": len(removals),
            "summary": effects.summary(done=True),
        },
    )
    session.flush()
    effects.removal_ids = [removal.id for removal in removals]
    return effects


def _apply(session, effects: RollbackEffects, project_id: int, now: datetime, code_id=None):
    """End and shorten the subscriptions of ``effects`` and write its removals."""
    codes = {code.id: code for code in effects.codes}
    for subscription in effects.ending:
        subscription.ended_at = now
        subscription.end_reason = "rolled_back"
        cause = code_id if code_id is not None else effects.paying_code.get(subscription.id)
        funnel.record_subscription_step(
            session, subscription.id, subscription.customer_id, "ended", "rolled_back", now,
            code=codes.get(cause),
        )
    for subscription, new_end in effects.shortened:
        subscription.ends_at = new_end
    outbox.cancel_unclaimed_confirmations(session, [s.id for s in effects.ending], now)
    removals = []
    for decision in effects.decisions:
        cause = code_id if code_id is not None else effects.paying_code.get(
            decision.subscription_id
        )
        removals.extend(
            queue_removals(session, decision, project_id, "rolled_back", now, code_id=cause)
        )
    return removals


def _live_code(session: Session, project_id: int, code_id: int) -> AccessCode:
    code = session.get(AccessCode, code_id)
    if code is None or code.project_id != project_id or code.deleted_at is not None:
        raise NotFound("no such code")
    return code


def _live_codes(session: Session, project_id: int, code_ids: list[int]) -> list[AccessCode]:
    if not code_ids:
        return []
    return list(
        session.scalars(
            select(AccessCode)
            .where(
                AccessCode.id.in_(code_ids),
                AccessCode.project_id == project_id,
                AccessCode.deleted_at.is_(None),
            )
            .order_by(AccessCode.id)
        )
    )


def _live_activation(session: Session, project_id: int, activation_id: int) -> Activation:
    activation = session.get(Activation, activation_id)
    if activation is None or activation.project_id != project_id:
        raise NotFound("no such activation")
    if activation.code.deleted_at is not None:
        raise NotFound("no such activation")
    return activation


def _activations_of(code_ids: list[int]):
    return (
        select(Activation)
        .where(Activation.code_id.in_(code_ids))
        .options(
            selectinload(Activation.subscription),
            selectinload(Activation.customer).load_only(Customer.id),
        )
        .order_by(Activation.id)
        # Fresh rows: after the locks above, not what this session read before them.
        .execution_options(populate_existing=True)
    )


def _effects(session: Session, codes: list[AccessCode], activations, now: datetime):
    """What undoing ``activations`` (a query or a list) does to their subscriptions."""
    if not isinstance(activations, list):
        activations = list(session.scalars(activations).all())
    effects = RollbackEffects(
        codes=codes, activation_count=len(activations)
    )
    chosen = {a.id for a in activations}
    by_subscription: dict[int, list[Activation]] = defaultdict(list)
    for activation in activations:
        by_subscription[activation.subscription_id].append(activation)
    for subscription_id, undone in by_subscription.items():
        subscription = undone[0].subscription
        effects.paying_code[subscription_id] = undone[0].code_id
        if subscription.ended_at is not None:
            continue  # already over; nothing left to take back
        others = session.scalar(
            select(Activation.id)
            .where(Activation.subscription_id == subscription.id, Activation.id.not_in(chosen))
            .limit(1)
        )
        if others is None:
            effects.ending.append(subscription)
            continue
        if subscription.ends_at is None or any(a.ends_after is None for a in undone):
            continue  # lifetime paid by another code too: it stays lifetime
        share = sum((a.ends_after - a.ends_before for a in undone), timedelta())
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
