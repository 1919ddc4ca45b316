"""The business of Admit: codes, activation, subscriptions, rollback and what is due.

Functions here take values (ids, ``now``), work in the caller's session and never commit: the
caller (a view, a bot handler or a job) owns the unit of work.
"""
