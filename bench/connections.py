"""Connections section: the Procfile's worker draining a backlog with MAIL_CONNECTIONS 1, 2 and 4 against the raw
smtplib ceiling (one plain loop over one connection to the same sink), on a sink that answers at once and on one
that answers DATA after 10 ms, as a provider across a network does; then what the provider's rate costs.

Every contender runs through bench/mailrun.py as in the mail section, interleaved in rounds; ratios are taken
per round. The pool has WORKER_CONCURRENCY=2 workers, so MAIL_CONNECTIONS=N keeps 2N sessions open.
"""
from bench.mail import CONTENDERS, measure
from bench.report import median
from bench.stack import Stack

CONNECTIONS = (1, 2, 4)
DELAYS = (0.0, 0.010)  # seconds before the sink answers DATA
LIMITED = (200, 2)  # MAIL_MAX_PER_SECOND, MAIL_CONNECTIONS: the rate a drain keeps when it binds
UNBINDING = 100_000  # a rate that never binds: the gate's window bookkeeping on every send, nothing else


def drain(stack, count, **settings):
    """One backlog drained by the Procfile's worker with these settings (the stack's env, restored after)."""
    saved = dict(stack.env)
    stack.env.update({name: str(value) for name, value in settings.items()})
    try:
        return measure(stack, "project", CONTENDERS["project"], count, 0)
    finally:
        stack.env.clear()
        stack.env.update(saved)


def run_connections(table, runs, quick):
    count = 200 if quick else 600
    results = {}

    def keep(key, result):
        results.setdefault(key, []).append(result)

    with Stack() as stack:
        for _ in range(runs):
            for delay in DELAYS:
                stack.start_sink(delay)
                keep((delay, "ceiling"), measure(stack, "ceiling", CONTENDERS["ceiling"], count, 0))
                for connections in CONNECTIONS:
                    keep((delay, connections), drain(stack, count, MAIL_CONNECTIONS=connections))
            stack.start_sink(0.0)
            keep("gate", drain(stack, count, MAIL_MAX_PER_SECOND=UNBINDING))
            keep("free", drain(stack, count))
            per_second, connections = LIMITED
            keep("limited", drain(stack, count, MAIL_MAX_PER_SECOND=per_second, MAIL_CONNECTIONS=connections))
    report(table, results)


def rates(results, key):
    return [r["rate"] if r else None for r in results.get(key, [])]


def ratio(table, name, tops, bottoms):
    """The median of per-round ratios (rounds where both figures exist)."""
    pairs = [top / bottom for top, bottom in zip(tops, bottoms) if top and bottom]
    if pairs:
        table.add("connections", name, median(pairs), "{:.2f}×")
    else:
        table.missing("connections", name, "not available (see the error above)")


def add_rate(table, name, values):
    ok = [v for v in values if v]
    if ok:
        table.add("connections", f"{name}: mails/s", median(ok), "{:.1f}")
    else:
        table.missing("connections", f"{name}: mails/s", "not available (see the error above)")


def report(table, results):
    for delay in DELAYS:
        sink = f"sink answers after {delay * 1000:.0f} ms"
        ceiling = rates(results, (delay, "ceiling"))
        add_rate(table, f"ceiling, raw smtplib loop over one connection, {sink}", ceiling)
        for connections in CONNECTIONS:
            drained = rates(results, (delay, connections))
            add_rate(table, f"drain, MAIL_CONNECTIONS={connections} (2 workers), {sink}", drained)
            ratio(table, f"ratio drain MAIL_CONNECTIONS={connections} / ceiling, {sink}", drained, ceiling)
            if connections != 1:
                ratio(table, f"ratio MAIL_CONNECTIONS={connections} / MAIL_CONNECTIONS=1, {sink}", drained,
                      rates(results, (delay, 1)))
    add_rate(table, f"drain, MAIL_MAX_PER_SECOND={UNBINDING} (never binds: the window's cost)", rates(results, "gate"))
    ratio(table, f"ratio MAIL_MAX_PER_SECOND={UNBINDING} / unset", rates(results, "gate"), rates(results, "free"))
    per_second, connections = LIMITED
    limited = rates(results, "limited")
    add_rate(table, f"drain, MAIL_MAX_PER_SECOND={per_second}, MAIL_CONNECTIONS={connections}", limited)
    ratio(table, f"ratio kept rate / MAIL_MAX_PER_SECOND={per_second}", limited, [per_second] * len(limited))
