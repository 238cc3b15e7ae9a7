"""identity.pair_precision and identity.pair_recall: how well identity resolution finds the people of the
simulated brand (``siyu simulate``, default size: about 10,000 people over 90 days, with its hard cases:
family tablets, buggy clients sending junk ids, unnormalised phones, mixed-case emails, WeChat logins,
aliases), against the simulator's ground truth.

Every message is a point; a prediction is the event store's ``events.person_id`` after the workers drained
(a message without a person counts as its own singleton). Pairwise "same person" precision and recall come
from the contingency table of predicted person x true person: TP = sum C(n_ij, 2), predicted pairs =
sum C(n_i., 2), true pairs = sum C(n_.j, 2). The naive baseline (same run, same messages) puts two messages
together when they share a raw user id or a raw anonymous id, transitively.

Recall is also measured against what the messages reveal (``identity.pair_recall_revealed``): a true
person whose parts no message of theirs links (an anonymous website visit after cookies were cleared, an
APP install that never logged in) counts as several people there, since no resolution that follows the
messages can know them to be one; the same number for the naive baseline.

The lost pairs are broken down by cause: a true person split because no message links the parts (no rule
can join them: the ceiling of any resolution that only follows the messages), or because a message links
them and a rule declined to merge (the conflict it recorded, by reason and identifier kind).

    python -m benchmarks.bench_accuracy [--people 10000] [--days 90] [--seed 42] [--end-date 2026-11-23]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import BIN, record, siyu_env, workdir
from siyu.config import Settings
from siyu.identity.extract import observe
from siyu.simulate.truth import Truth, load_truth

# The event-store columns read: what resolution saw of each message, and its person.
COLUMNS = ("message_id, user_id, anonymous_id, person_id, channel, type, previous_id, epoch_us(timestamp), "
           "CAST(traits AS VARCHAR), CAST(context AS VARCHAR)")
NEVER_LINKED = "never linked by any message"
Conflict = tuple[str, str, str, str, str]  # reason, person, other person, identifier kind, value


def c2(n: int) -> int:
    return n * (n - 1) // 2


def pair_scores(pred: Sequence[Hashable], true: Sequence[Hashable]) -> tuple[float, float, dict[str, int]]:
    """Pairwise precision and recall of a clustering ``pred`` against ``true`` (one label per point)."""
    cells = Counter(zip(pred, true, strict=True))
    tp = sum(c2(n) for n in cells.values())
    pred_pairs = sum(c2(n) for n in Counter(pred).values())
    true_pairs = sum(c2(n) for n in Counter(true).values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    return precision, recall, {"tp": tp, "predicted_pairs": pred_pairs, "true_pairs": true_pairs}


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Hashable, Hashable] = {}

    def find(self, x: Hashable) -> Hashable:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: Hashable, b: Hashable) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def naive(rows: Iterable[tuple[str, str | None, str | None]]) -> dict[str, Hashable]:
    """Messages sharing a raw user id or a raw anonymous id are one person (transitively)."""
    uf = UnionFind()
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for mid, user_id, anonymous_id in rows:
        keys = [("u", user_id)] if user_id else []
        keys += [("a", anonymous_id)] if anonymous_id else []
        for k in keys[1:]:
            uf.union(keys[0], k)
        out.append((mid, keys))
    return {mid: uf.find(keys[0]) if keys else ("message", mid) for mid, keys in out}


def simulate(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN / "siyu"), "simulate", "--json", "--people", str(args.people), "--days", str(args.days),
         "--seed", str(args.seed), "--end-date", args.end_date],
        env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


async def drain(data_dir: Path) -> tuple[list[tuple[Any, ...]], list[Conflict]]:
    """Both workers until the bus is empty; then every event (``COLUMNS``) and the recorded conflicts."""
    from sqlalchemy import select

    from siyu.identity.models import IdentityConflict
    from siyu.runtime import Runtime

    runtime = Runtime(Settings(data_dir=data_dir))
    await runtime.start(run_worker=False)
    try:
        await runtime.drain()
        assert runtime.warehouse is not None
        n = int(runtime.warehouse.query("SELECT count(*) FROM events", 1, 600).rows[0][0])
        result = runtime.warehouse.query(f"SELECT {COLUMNS} FROM events", n + 1, 600)
        with runtime.db.session() as s:
            conflicts = [(r[0], r[1], r[2], r[3], r[4]) for r in s.execute(
                select(IdentityConflict.reason, IdentityConflict.person_id, IdentityConflict.other_person_id,
                       IdentityConflict.identifier_kind, IdentityConflict.identifier_value))]
        return [tuple(r) for r in result.rows], conflicts
    finally:
        await runtime.stop()


def predicted(row: tuple[Any, ...]) -> Hashable:
    return row[3] if row[3] is not None else ("none", row[0])


def keys_of(row: tuple[Any, ...]) -> list[tuple[str, str]]:
    """The identifiers resolution extracts from an event (and an alias's previous id)."""
    mid, user_id, anon, _, channel, type_, previous, ts, traits, context = row
    o = observe(mid, channel, type_, anon, user_id, previous, ts, (traits or "").encode(), (context or "").encode())
    return [*o.ids, *([("previous", o.previous)] if o.previous else [])]


def revealed(rows: list[tuple[Any, ...]], truth: Truth) -> list[Hashable]:
    """Per message, the part of its true person that it belongs to as far as the messages reveal: a true
    person's messages are in one part when their identifiers connect them, through that person's own
    messages. The "revealed truth" (what any resolution that follows the messages could know at best); a
    person whose channels or browsers nothing ever links is several people there."""
    msgs_of: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        msgs_of[truth.person(row[0])].append(i)
    out: list[Hashable] = [None] * len(rows)
    for t, idx in msgs_of.items():
        uf = UnionFind()
        keys = [keys_of(rows[i]) for i in idx]
        for ks in keys:
            for k in ks[1:]:
                uf.union(ks[0], k)
        for i, ks in zip(idx, keys, strict=True):
            out[i] = (t, uf.find(ks[0]) if ks else ("alone", i))
    return out


def error_cases(rows: list[tuple[Any, ...]], truth: Truth, conflicts: list[Conflict],
                examples: int) -> dict[str, Any]:
    """Where pairs were lost. Precision: predicted persons holding several true people. Recall: pairs of one
    true person's messages that no message of theirs links, even through other identifiers (no rule that
    follows the messages can join them: what is left is the ceiling of recall), and pairs some message links
    that resolution kept apart, by the conflict it recorded between the two parts (reason, identifier kind)."""
    by_pred: dict[Hashable, Counter[str]] = defaultdict(Counter)
    msgs_of: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        t = truth.person(row[0])
        by_pred[predicted(row)][t] += 1
        msgs_of[t].append(row)
    merged = []
    for p, people in by_pred.items():
        if len(people) > 1:
            pairs = c2(sum(people.values())) - sum(c2(n) for n in people.values())
            merged.append((pairs, str(p), dict(people)))
    merged.sort(key=lambda x: (-x[0], x[1]))
    declined: dict[frozenset[str], set[tuple[str, str]]] = defaultdict(set)
    for reason, a, b, kind, _ in conflicts:
        if b:
            declined[frozenset((a, b))].add((reason, kind))
    linkable = 0
    unlinked_people = 0
    causes: Counter[str] = Counter()
    cause_people: dict[str, set[str]] = defaultdict(set)
    cause_examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t, msgs in sorted(msgs_of.items()):
        uf = UnionFind()
        keys = [keys_of(r) for r in msgs]
        for ks in keys:  # the identifiers this person's messages put together
            for k in ks[1:]:
                uf.union(ks[0], k)
        parts: dict[Hashable, Counter[Hashable]] = defaultdict(Counter)
        for i, (r, ks) in enumerate(zip(msgs, keys, strict=True)):
            parts[uf.find(ks[0]) if ks else ("alone", i)][predicted(r)] += 1
        linkable += sum(c2(sum(part.values())) for part in parts.values())
        if len(parts) > 1:
            unlinked_people += 1
        for part in parts.values():
            if len(part) < 2:
                continue
            lost = c2(sum(part.values())) - sum(c2(n) for n in part.values())
            ps = sorted(part, key=str)
            found = sorted({c for i, a in enumerate(ps) for b in ps[i + 1:]
                            for c in declined.get(frozenset((str(a), str(b))), set())})
            cause = ("declined: " + ", ".join(f"{reason} on {kind}" for reason, kind in found)) if found \
                else "linked by a message, no conflict recorded"
            causes[cause] += lost
            cause_people[cause].add(t)
            if len(cause_examples[cause]) < examples:
                cause_examples[cause].append({"true_person": t, "pairs": lost,
                                              "messages_per_person": sorted(part.values(), reverse=True)})
    true_pairs = sum(c2(len(m)) for m in msgs_of.values())
    by_cause = {NEVER_LINKED: {"people": unlinked_people, "pairs": true_pairs - linkable, "examples": []}}
    by_cause.update({c: {"people": len(cause_people[c]), "pairs": n, "examples": cause_examples[c]}
                     for c, n in causes.most_common()})
    return {
        "false_pairs": sum(x[0] for x in merged),
        "merged_clusters": len(merged),
        "merged_examples": [{"pairs": n, "person": p, "true_people": people} for n, p, people in merged[:examples]],
        "linkable_pairs": linkable,
        "missed_by_cause": by_cause,
        "messages_without_person": sum(1 for r in rows if r[3] is None),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=10_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end-date", default="2026-11-23", help="fixed, so a run is reproducible")
    p.add_argument("--examples", type=int, default=3)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--dry-run", action="store_true", help="print, do not record")
    p.add_argument("--reuse", type=Path, help="a kept work directory: skip the simulation (development)")
    args = p.parse_args()
    work = args.reuse or workdir()
    try:
        data_dir = work / "siyu"
        env = siyu_env(data_dir)
        started = time.perf_counter()
        summary = json.loads((data_dir / "simulation" / "summary.json").read_text()) if args.reuse \
            else simulate(env, args)
        print(f"simulated {summary['events']:,} events of {summary['people']:,} people "
              f"in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        rows, conflicts = asyncio.run(drain(data_dir))
        print(f"drained {len(rows):,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        truth = load_truth(data_dir / "simulation")
        assert len(rows) == len(truth.messages), (len(rows), len(truth.messages))

        mids = [r[0] for r in rows]
        true = [truth.person(m) for m in mids]
        precision, recall, counts = pair_scores([predicted(r) for r in rows], true)
        groups = naive((r[0], r[1], r[2]) for r in rows)
        n_precision, n_recall, n_counts = pair_scores([groups[m] for m in mids], true)
        cases = error_cases(rows, truth, conflicts, args.examples)
        ceiling = cases["linkable_pairs"] / counts["true_pairs"] if counts["true_pairs"] else 1.0
        parts = revealed(rows, truth)
        _, r_recall, r_counts = pair_scores([predicted(r) for r in rows], parts)
        _, rn_recall, rn_counts = pair_scores([groups[m] for m in mids], parts)

        cmd = ("python -m benchmarks.bench_accuracy " + " ".join(
            a for a in sys.argv[1:] if a not in ("--keep", "--dry-run"))).strip()
        sim = f"{summary['people']:,} people, {args.days} days, seed {args.seed}, {len(rows):,} messages"
        note = f"simulated brand ({sim}); baseline: same raw user id or anonymous id, transitively"
        if not args.dry_run:
            record("identity.pair_precision", precision * 100, "%", n_precision * 100, cmd, note=note,
                   pairs=counts, baseline_pairs=n_counts, false_pairs=cases["false_pairs"],
                   merged_clusters=cases["merged_clusters"])
            record("identity.pair_recall", recall * 100, "%", n_recall * 100, cmd, note=note,
                   pairs=counts, baseline_pairs=n_counts, recall_ceiling=round(ceiling * 100, 3),
                   missed_by_cause={c: {"people": v["people"], "pairs": v["pairs"]}
                                    for c, v in cases["missed_by_cause"].items()},
                   messages_without_person=cases["messages_without_person"])
            record("identity.pair_recall_revealed", r_recall * 100, "%", rn_recall * 100, cmd,
                   note=note + "; true people split where no message of theirs links their parts (the "
                                "pairs no resolution that follows the messages can find)",
                   pairs=r_counts, baseline_pairs=rn_counts)
        print(f"pairs: {counts}; false pairs {cases['false_pairs']:,} in {cases['merged_clusters']} persons; "
              f"missed pairs {counts['true_pairs'] - counts['tp']:,}, by cause:")
        for cause, v in cases["missed_by_cause"].items():
            print(f"  {v['pairs']:>9,} pairs ({v['pairs'] / counts['true_pairs']:.3%} of true pairs), "
                  f"{v['people']:>4} people: {cause}")
            for e in v["examples"][:2]:
                print(f"      e.g. {json.dumps(e, ensure_ascii=False)}")
        for e in cases["merged_examples"][:3]:
            print(f"  false merge e.g. {json.dumps(e, ensure_ascii=False)}")
        print(f"identity: precision {precision:.4%}  recall {recall:.4%}  "
              f"(recall ceiling: {ceiling:.4%}, the pairs some message links)")
        print(f"naive (same raw user id or anonymous id): precision {n_precision:.4%}  recall {n_recall:.4%}")
        print(f"recall against what the messages reveal: identity {r_recall:.4%}  naive {rn_recall:.4%}")
    finally:
        if args.keep or args.reuse:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
