"""Summarise var/bench-results.json against the targets and draw the chart
(docs/performance.png: each workload beside the ceiling measured in the same run).

The ceilings are printed first; then every target, judged on the absolute figure
the issue gives and, where it gives one, on the ratio to this run's ceiling."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import RESULTS, ROOT

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CHART = ROOT / "docs" / "performance.png"


#: Issue 17's absolute release target, "on this machine": 1,000,000 due holds.
RELEASE_SECONDS_PER_MILLION = 40
#: In-process deposits and trades per second before issue 17 (docs/performance.md,
#: session 3): "no regression" is judged against them, with a tenth of slack
#: for this shared machine's drift.
PREVIOUS_IN_PROCESS = {"deposits_per_s": 216.0, "trades_per_s": 71.0}


def _connections(figures: dict[str, Any]) -> str:
    """The wrk connection count of a recorded HTTP run (its ``-cN`` setting)."""
    found = re.search(r"-c(\d+)", str(figures.get("settings", "")))
    return found.group(1) if found else "several"


def ceilings(r: dict[str, Any]) -> list[str]:
    """The yardsticks of this run, printed before the verdicts that divide by them."""
    lines = []
    if "ceiling_transfer" in r:
        f = r["ceiling_transfer"]
        lines.append(
            f"ceiling_transfer (HTTP, entry + 2 postings per request): {f['rps']:,.0f} req/s, "
            f"p99 {f['p99_ms']:.1f} ms ({f.get('settings', '')})"
        )
    if "ceiling_sql_transfer" in r:
        f = r["ceiling_sql_transfer"]
        lines.append(
            f"ceiling_sql_transfer (pure SQL, one transfer per transaction): {f['tps']:,.0f} "
            f"transfers/s, average latency {f['latency_avg_ms']:.2f} ms ({f.get('settings', '')})"
        )
    if "ceiling_sql_release" in r:
        f = r["ceiling_sql_release"]
        lines.append(
            f"ceiling_sql_release (pure SQL, set-based): {f['holds']:,} holds in "
            f"{f['seconds']:.2f} s = {f['holds_per_s']:,.0f}/s (batches of {f['batch_size']:,})"
        )
    return lines


def verdicts(r: dict[str, Any]) -> list[str]:
    """One line per target: MET / NOT MET (or UNKNOWN when its ceiling is missing).

    Where the issue gives a target both as an absolute figure (set on its own
    machine) and relative to a ceiling, both are judged, on separate lines
    labelled [absolute] and [vs SQL ceiling]: the first says whether the issue's
    number is reached here, the second whether the gap to what PostgreSQL alone
    does on this machine is as small as asked.
    """
    lines: list[str] = []

    def line(name: str, ok: bool, text: str) -> None:
        lines.append(f"{'MET    ' if ok else 'NOT MET'} {name}: {text}")

    def unknown(name: str) -> None:
        lines.append(f"UNKNOWN {name}: no ceiling measured in this run (older results?)")

    for key in ("http_deposits_many_accounts", "http_deposits_hot_account"):
        if key in r:
            f = r[key]
            line(
                f"{key} [vs HTTP ceiling]",
                f["ratio_to_ceiling"] >= 0.5,
                f"{f['rps']:.0f} req/s = {f['ratio_to_ceiling']:.0%} of ceiling "
                f"{r['ceiling_transfer']['rps']:.0f} (target ≥ 50%); p99 {f['p99_ms']:.1f} ms "
                f"with requests queued (ceiling {r['ceiling_transfer']['p99_ms']:.1f} ms)",
            )
    if "http_deposits_latency" in r:
        f = r["http_deposits_latency"]
        line(
            "http_deposits p99 [one connection per worker]",
            f["p99_ms"] < 50,
            f"p99 {f['p99_ms']:.1f} ms, p50 {f['p50_ms']:.1f} ms at {f['rps']:.0f} req/s "
            f"(target < 50 ms; ceiling p99 {f['ceiling_p99_ms']:.1f} ms; {f['settings']})",
        )
    if "http_deposits_endurance" in r:
        f = r["http_deposits_endurance"]
        line(
            "http_deposits 5-minute run [last minute / first]",
            f["last_to_first"] >= 0.9,
            f"{f['last_to_first']:.2f} (target ≥ 0.90); req/s by minute {f['rps_by_minute']}; "
            f"ceiling before/after {f['ceiling_rps_before_after']}",
        )
    if "batch_deposits" in r:
        f = r["batch_deposits"]
        rate = f["deposits_per_s"]
        beside = (
            f"; {f['ratio_to_sql_transfer']:.2f}x the pure-SQL one-transfer-per-transaction "
            f"ceiling of {f['ceiling_sql_transfer_tps']:,.0f}/s in this run"
            if "ratio_to_sql_transfer" in f
            else ""
        )
        line(
            "batch_deposits [absolute]",
            rate >= 10_000,
            f"{rate:,.0f} deposits/s with holds (target ≥ 10,000){beside}",
        )
    for key in (
        "release_holds_postgresql",
        "release_holds_postgresql_no_statistics",
        "release_holds_sqlite",
    ):
        if key in r:
            f = r[key]
            projected = 1_000_000 / f["holds_per_s"]
            line(
                f"{key} [absolute]",
                projected <= RELEASE_SECONDS_PER_MILLION,
                f"{f['holds']:,} holds in {f['seconds']:.1f} s = {f['holds_per_s']:,.0f}/s "
                f"(1M projected {projected:.0f} s; target: 1M in ≤ "
                f"{RELEASE_SECONDS_PER_MILLION} s)",
            )
            if "ratio_to_ceiling" in f:
                line(
                    f"{key} [vs SQL ceiling]",
                    f["ratio_to_ceiling"] <= 2.0,
                    f"{f['seconds']:.1f} s = {f['ratio_to_ceiling']:.2f}x the pure-SQL ceiling's "
                    f"{f['ceiling_seconds']:.2f} s for the same {f['holds']:,} holds in batches of "
                    f"{f['batch_size']:,} in this run (target ≤ 2.0x)",
                )
            else:
                unknown(f"{key} [vs SQL ceiling]")
            line(
                f"{key} [memory]",
                f["peak_rss_mb"] < 200,
                f"peak RSS {f['peak_rss_mb']:.0f} MB (target < 200)",
            )
    if "in_process_requests" in r:
        f = r["in_process_requests"]
        for name, before in PREVIOUS_IN_PROCESS.items():
            line(
                f"in-process {name.removesuffix('_per_s')} [no regression]",
                f[name] >= 0.9 * before,
                f"{f[name]:,.0f}/s, one client (before issue 17: {before:,.0f}/s; "
                f"target ≥ 90% of it)",
            )
    for key in ("balance_read_postgresql", "balance_read_sqlite"):
        if key in r:
            f = r[key]
            line(
                key,
                f["p99_ratio"] <= 1.5,
                f"p99 {f['small_p99_ms']:.2f} ms at 1,000 postings, {f['large_p99_ms']:.2f} ms at "
                f"{f['postings_large']:,} (ratio {f['p99_ratio']:.2f}, target ≤ 1.5)",
            )
    if "events_deposit_cost" in r:
        f = r["events_deposit_cost"]
        line(
            "events: outbox cost per deposit",
            f["outbox_ratio"] >= 0.9,
            f"{f['rps_gthread_outbox']:.0f} deposits/s with events, "
            f"{f['rps_gthread_no_outbox']:.0f} without (median ratio of the rounds "
            f"{f['outbox_ratio']:.0%}, target ≥ 90%); sync workers {f['rps_sync_outbox']:.0f}/s, "
            f"gthread/sync {f['gthread_to_sync_ratio']:.2f} ({f['settings']})",
        )
    if "events_feed_catch_up" in r:
        f = r["events_feed_catch_up"]
        line(
            "events: feed catch-up read",
            f["events_per_s"] >= 50_000,
            f"{f['events_per_s']:,.0f} events/s over {f['events']:,} events "
            f"(target ≥ 50,000; {f['settings']})",
        )
    for key, f in r.items():
        if key.startswith("export_journal"):
            rows = f.get("rows_per_s") or f.get("rows_per_second") or 0
            rss = f.get("peak_rss_mb", 0)
            line(
                key,
                rows >= 200_000 and rss < 100,
                f"{rows:,.0f} rows/s (target ≥ 200,000), peak RSS {rss:.0f} MB (target < 100)",
            )
    if "seals" in r:
        f = r["seals"]
        line(
            "seals (sealing rate)",
            f["seal_entries_per_s"] >= 100_000 and f["seal_peak_rss_mb"] < 200,
            f"{f['entries']:,.0f} entries sealed at {f['seal_entries_per_s']:,.0f}/s "
            f"(target ≥ 100,000), peak RSS {f['seal_peak_rss_mb']:.0f} MB (target < 200); "
            f"verify {f['verify_seconds']:.1f} s",
        )
        line(
            "seals (deposits with a sealer every second)",
            f["deposit_ratio"] >= 0.95,
            f"{f['deposit_ratio']:.3f}x the deposits/s without (target ≥ 0.95)",
        )
    if "seals_xact_id_column" in r:
        f = r["seals_xact_id_column"]
        line(
            "seals (xact_id column on the write path)",
            f["deposit_ratio"] >= 0.95,
            f"{f['deposit_ratio']:.3f}x the deposits/s of revision 0005 (target ≥ 0.95)",
        )
    return lines


HTTP_LABELS = {
    "ceiling_transfer": "ceiling\n(entry+2 postings)",
    "http_deposits_many_accounts": "card deposits\n(many accounts)",
    "http_deposits_hot_account": "card deposits\n(hot account)",
}
CEILING_GREY = "#888"


def chart(r: dict[str, Any], path: Path = CHART) -> None:
    """Each workload beside its ceiling from the same run, with the targets as lines.

    Top row: the HTTP deposit endpoints against the HTTP ceiling. Bottom row: batch
    deposits against the pure-SQL transfer ceiling, and the release job against
    the pure-SQL release ceiling; there the ratio target (relative to this run's
    ceiling) and the issue's absolute target are both drawn, as they can disagree
    on a machine unlike the issue's. A row whose results are missing is left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    http = [k for k in HTTP_LABELS if k in r]
    sql = "batch_deposits" in r or "release_holds_postgresql" in r
    rows = [row for row, present in (("http", bool(http)), ("sql", sql)) if present]
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 4.2 * len(rows)), squeeze=False)
    for (left, right), row in zip(axes, rows, strict=True):
        if row == "http":
            _http_panels(left, right, r, http)
        else:
            _sql_panels(left, right, r)
    fig.suptitle("PostgreSQL, one run: each workload beside its ceiling from the same run")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _http_panels(left: Axes, right: Axes, r: dict[str, Any], names: list[str]) -> None:
    labels = [HTTP_LABELS[n] for n in names]
    colours = [CEILING_GREY if n == "ceiling_transfer" else "#2a7" for n in names]
    left.bar(labels, [r[n]["rps"] for n in names], color=colours)
    left.set_title("POST over HTTP: throughput (requests/s)")
    if "ceiling_transfer" in r:
        left.axhline(
            r["ceiling_transfer"]["rps"] * 0.5,
            color="red",
            linestyle="--",
            label="target: 50% of ceiling",
        )
        left.legend()
    # p99 at both load levels: with requests queued (the throughput run) and with
    # one connection per worker (the time to serve a request).
    pairs = [
        ("ceiling", "ceiling_transfer", "ceiling_transfer_latency"),
        ("card deposits\n(many accounts)", "http_deposits_many_accounts", "http_deposits_latency"),
    ]
    pairs = [(label, q, u) for label, q, u in pairs if q in r and u in r]
    if pairs:
        xs = range(len(pairs))
        right.bar(
            [x - 0.2 for x in xs],
            [r[q]["p99_ms"] for _, q, _ in pairs],
            0.4,
            color=CEILING_GREY,
            label=f"{_connections(r[pairs[0][1]])} connections (queued)",
        )
        right.bar(
            [x + 0.2 for x in xs],
            [r[u]["p99_ms"] for _, _, u in pairs],
            0.4,
            color="#27a",
            label="one connection per worker",
        )
        right.set_xticks(list(xs), [label for label, _, _ in pairs])
    right.axhline(50, color="red", linestyle="--", label="target p99 < 50 ms")
    right.set_title("POST over HTTP: p99 latency (ms)")
    right.legend()


def _sql_panels(left: Axes, right: Axes, r: dict[str, Any]) -> None:
    if "batch_deposits" in r:
        f = r["batch_deposits"]
        labels = ["batch deposits\n(1,000/request)"]
        values, colours = [f["deposits_per_s"]], ["#2a7"]
        if "ceiling_sql_transfer_tps" in f:
            ceiling = f["ceiling_sql_transfer_tps"]
            labels.insert(0, "SQL ceiling\n(1 transfer/txn)")
            values.insert(0, ceiling)
            colours.insert(0, CEILING_GREY)
        left.axhline(10_000, color="orange", linestyle=":", label="absolute target 10,000/s")
        left.bar(labels, values, color=colours)
        left.set_title("Batch deposits vs pure-SQL transfers (per second)")
        left.legend()
    else:
        left.set_axis_off()
    if "release_holds_postgresql" in r:
        f = r["release_holds_postgresql"]
        labels, values, colours = ["release job\n(PostgreSQL)"], [f["seconds"]], ["#27a"]
        if "ceiling_seconds" in f:
            labels.insert(0, "SQL ceiling\n(set-based)")
            values.insert(0, f["ceiling_seconds"])
            colours.insert(0, CEILING_GREY)
            right.axhline(
                2 * f["ceiling_seconds"], color="red", linestyle="--", label="target: 2.0x ceiling"
            )
        right.axhline(
            RELEASE_SECONDS_PER_MILLION * f["holds"] / 1_000_000,
            color="orange",
            linestyle=":",
            label=f"absolute target ({RELEASE_SECONDS_PER_MILLION} s per 1M) at {f['holds']:,}",
        )
        right.bar(labels, values, color=colours)
        right.set_title(f"Release {f['holds']:,} due holds (seconds, lower is better)")
        right.legend(loc="upper left")  # above the (short) ceiling bar
    else:
        right.set_axis_off()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chart", type=Path, default=CHART, help="where to write the chart")
    args = parser.parse_args()
    if not RESULTS.exists():
        print("no results yet: run make bench")
        return
    results = json.loads(Path(RESULTS).read_text())
    print("\n== ceilings (measured in this run, on this machine)")
    for text in ceilings(results):
        print(text)
    print("\n== targets ([absolute]: the issue's figure; [vs SQL ceiling]: ratio to this run's)")
    for text in verdicts(results):
        print(text)
    chart(results, args.chart)
    print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
