"""Summarise var/bench-results.json against the targets and draw the chart
(docs/performance.png: throughput and p99 of the deposit endpoints beside the ceiling)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT

CHART = ROOT / "docs" / "performance.png"


def verdicts(r: dict[str, Any]) -> list[str]:
    lines = []

    def line(name: str, ok: bool, text: str) -> None:
        lines.append(f"{'MET    ' if ok else 'NOT MET'} {name}: {text}")

    for key in ("http_deposits_many_accounts", "http_deposits_hot_account"):
        if key in r:
            f = r[key]
            line(
                key,
                f["ratio_to_ceiling"] >= 0.5 and f["p99_ms"] < 50,
                f"{f['rps']:.0f} req/s = {f['ratio_to_ceiling']:.0%} of ceiling "
                f"{r['ceiling_transfer']['rps']:.0f} (target ≥ 50%), p99 {f['p99_ms']:.1f} ms "
                f"(target < 50)",
            )
    if "batch_deposits" in r:
        f = r["batch_deposits"]
        line(
            "batch_deposits",
            f["deposits_per_s"] >= 10_000,
            f"{f['deposits_per_s']:.0f} deposits/s (target ≥ 10,000)",
        )
    for key in ("release_holds_postgresql", "release_holds_sqlite"):
        if key in r:
            f = r[key]
            projected = 1_000_000 / f["holds_per_s"]
            line(
                key,
                projected <= 20 and f["peak_rss_mb"] < 200,
                f"{f['holds']:,} holds in {f['seconds']:.1f} s = {f['holds_per_s']:.0f}/s "
                f"(1M projected {projected:.0f} s, target ≤ 20), peak RSS "
                f"{f['peak_rss_mb']:.0f} MB (target < 200)",
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
    for key, f in r.items():
        if key.startswith("export_journal"):
            rows = f.get("rows_per_s") or f.get("rows_per_second") or 0
            rss = f.get("peak_rss_mb", 0)
            line(
                key,
                rows >= 200_000 and rss < 100,
                f"{rows:,.0f} rows/s (target ≥ 200,000), peak RSS {rss:.0f} MB (target < 100)",
            )
    return lines


def chart(r: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        k
        for k in ("ceiling_transfer", "http_deposits_many_accounts", "http_deposits_hot_account")
        if k in r
    ]
    if not names:
        return
    labels = [
        "ceiling\n(entry+2 postings)",
        "card deposits\n(many accounts)",
        "card deposits\n(hot account)",
    ][: len(names)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(labels, [r[n]["rps"] for n in names], color=["#888", "#2a7", "#2a7"][: len(names)])
    left.set_title("Throughput (requests/s)")
    if "ceiling_transfer" in r:
        left.axhline(
            r["ceiling_transfer"]["rps"] * 0.5,
            color="red",
            linestyle="--",
            label="target: 50% of ceiling",
        )
        left.legend()
    right.bar(labels, [r[n]["p99_ms"] for n in names], color=["#888", "#27a", "#27a"][: len(names)])
    right.axhline(50, color="red", linestyle="--", label="target p99 < 50 ms")
    right.set_title("p99 latency (ms)")
    right.legend()
    fig.suptitle("POST over HTTP, PostgreSQL, same gunicorn settings, one run")
    fig.tight_layout()
    CHART.parent.mkdir(exist_ok=True)
    fig.savefig(CHART, dpi=100)


def main() -> None:
    if not RESULTS.exists():
        print("no results yet: run make bench")
        return
    results = json.loads(Path(RESULTS).read_text())
    print("\n== targets")
    for text in verdicts(results):
        print(text)
    chart(results)
    print(f"chart: {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
