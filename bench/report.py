"""Figures from the raw runs: medians, ratios to the floor, targets, and the printed report."""

import statistics

# The targets of the issue, on MicroPython.
RATIO_32 = 1.5  # median round trip at 32 B, times the floor
RATIO_1K = 2.5  # median round trip at 1 KiB, times the floor
ALLOC_1K = 2048  # bytes allocated per 1 KiB round trip ("2 KB")
HEAP_KIB = 24  # smallest heap for 1000 echoes of 1 KiB, .mpy firmware
GROWTH = 0  # bytes of heap growth over 10,000 messages

VARIANTS = (
    ("floor", "floor: raw pre-masked frames, blocking socket"),
    ("afloor", "floor over asyncio: non-blocking socket"),
    ("core", "ws.protocol over a blocking socket"),
    ("client", "ws.client (the figure with a target)"),
    ("client_rx", "ws.client, rx_buffer_size=%d"),
)


def medians(rounds, variant):
    """Per-round median round trip of a variant, in µs."""
    out = []
    for r in rounds:
        t = r["times"].get(variant)
        if t:
            out.append(statistics.median(t) * r["tick_ns"] / 1000)
    return out


def summary(rounds, variant):
    """(median µs, ratio to the floor, per-round ratios) or None when the variant did not run."""
    mine = medians(rounds, variant)
    if not mine:
        return None
    floor = medians(rounds, "floor")
    ratios = [m / f for m, f in zip(mine, floor, strict=True)]
    return statistics.median(mine), statistics.median(ratios), ratios


def alloc(rounds, variant):
    """Median over rounds of bytes allocated per round trip: (total, send, recv) or None."""
    vals = []
    for r in rounds:
        a = (r.get("alloc") or {}).get(variant)
        if a is None:
            continue
        if isinstance(a, dict):
            vals.append((a["send"] + a["recv"], a["send"], a["recv"]))
        else:
            vals.append((a, None, None))
    if not vals:
        return None
    vals.sort()
    return vals[len(vals) // 2]


def verdict(value, target):
    if value is None:
        return "NOT MEASURED"
    return "PASS" if value <= target else "MISSED"


def _us(x):
    return "%.0f µs" % x if x is not None else "-"


def _bytes(a):
    if a is None:
        return "-"
    total, send, recv = a
    if send is None:
        return "%.0f B" % total
    return "%.0f B (%.0f + %.0f)" % (total, send, recv)


class Report:
    """Collects lines and the target verdicts; print() shows them."""

    def __init__(self):
        self.lines = []
        self.missed = []
        self.passed = []
        self.unmeasured = []

    def add(self, text=""):
        self.lines.append(text)

    def target(self, name, shown, floor_text, ratio_text, target_text, value, target):
        v = verdict(value, target)
        {"PASS": self.passed, "MISSED": self.missed}.get(v, self.unmeasured).append(name)
        self.add("  %-38s %-16s %-12s %-10s %-10s %s" % (name, shown, floor_text, ratio_text, target_text, v))

    def text(self):
        return "\n".join(self.lines)


def build(info, mp, cp):
    """The whole report from the collected results (dicts; see bench.__main__)."""
    rep = Report()
    rep.add("== make bench: WebSocket client round trips against a local `websockets` echo server ==")
    rep.add(
        "%s; %d messages per round after %d warm-up, %d rounds; variants interleaved message by "
        "message; medians." % (info["where"], info["count"], info["warmup"], info["rounds"])
    )
    if not info["client"]:
        rep.add("ws.client skipped (--no-client, or no firmware/ws/client.py): its figures NOT MEASURED.")
    if mp:
        _micropython(rep, info, mp)
    else:
        rep.add("")
        rep.add("MicroPython: SKIPPED (%s)" % info.get("mp_skipped", "no interpreter"))
    _cpython(rep, info, cp)
    rep.add("")
    line = "targets: %d PASS, %d MISSED" % (len(rep.passed), len(rep.missed))
    if rep.unmeasured:
        line += ", %d NOT MEASURED" % len(rep.unmeasured)
    if rep.missed:
        line += "; MISSED: " + "; ".join(rep.missed)
    rep.add(line)
    return rep


def _micropython(rep, info, mp):
    rep.add("")
    rep.add("MicroPython %s (unix port), targets" % info["mp_version"])
    rep.add(
        "  %-38s %-16s %-12s %-10s %-10s %s" % ("figure", "measured", "floor", "ratio", "target", "result")
    )
    for size, limit in ((32, RATIO_32), (1024, RATIO_1K)):
        rounds = mp["rtt"][size]
        s = summary(rounds, "client")
        f = statistics.median(medians(rounds, "floor"))
        label = "median round trip, %s text" % ("32 B" if size == 32 else "1 KiB")
        if s:
            rep.target(label, _us(s[0]), _us(f), "%.2f×" % s[1], "≤ %.1f×" % limit, s[1], limit)
        else:
            rep.target(label, "-", _us(f), "-", "≤ %.1f×" % limit, None, limit)
    a = alloc(mp["rtt"][1024], "client")
    total = a[0] if a else None
    rep.target(
        "allocated per 1 KiB round trip",
        "%.0f B" % total if a else "-",
        "%.0f B" % alloc(mp["rtt"][1024], "floor")[0],
        "%.2f×" % (total / ALLOC_1K) if a else "-",
        "≤ %d B" % ALLOC_1K,
        total,
        ALLOC_1K,
    )
    heap = _heap_target(rep, mp)
    g = mp.get("growth")
    growth = None
    if g and g["driver"] == "client":
        growth = g["mem_alloc"][-1] - g["mem_alloc"][0]
    rep.target(
        "heap growth, %d messages of 1 KiB" % info["growth_count"],
        "%+d B" % growth if growth is not None else "-",
        "",
        "",
        "%d B" % GROWTH,
        growth,
        GROWTH,
    )
    m = mp["mask"]["results"]
    rep.add(
        "  %-38s mask16 (%s) %.0f MB/s; mask16_portable %.0f MB/s (reported, no target)"
        % (
            "masking throughput, 1 KiB",
            "viper" if mp["mask"]["viper"] else "portable",
            m["mask16"]["1024"],
            m["mask16_portable"]["1024"],
        )
    )
    rep.add(
        "  %-38s mask16 %.0f MB/s; mask16_portable %.0f MB/s"
        % ("masking throughput, 16 KiB", m["mask16"]["16384"], m["mask16_portable"]["16384"])
    )
    _layers(rep, info, mp["rtt"], with_alloc=True)
    if g:
        rep.add(
            "  heap in use (gc.mem_alloc after gc.collect) every %d messages, %s: %s"
            % (g["count"] // 10, g["driver"], " ".join(str(x) for x in g["mem_alloc"]))
        )
    _heap_details(rep, mp, heap)


def _heap_target(rep, mp):
    heap = mp.get("heap", {}).get("client")
    if heap is None and mp.get("heap_skipped"):
        rep.add("  %-38s %s" % ("smallest heap", "SKIPPED: " + mp["heap_skipped"]))
    else:
        kib = heap[0] if heap else None
        rep.target(
            "smallest heap, 1000 × 1 KiB (.mpy)",
            "%d KiB" % kib if heap else "-",
            "",
            "%.2f×" % (kib / HEAP_KIB) if heap else "-",
            "≤ %d KiB" % HEAP_KIB,
            kib,
            HEAP_KIB,
        )
    rom = mp.get("heap", {}).get("client_rom")
    if rom:
        rep.target(
            "smallest heap, 1000 × 1 KiB (ROMFS)",
            "%d KiB" % rom[0],
            "",
            "%.2f×" % (rom[0] / HEAP_KIB),
            "≤ %d KiB" % HEAP_KIB,
            rom[0],
            HEAP_KIB,
        )
    return heap


def _heap_details(rep, mp, heap):
    hp = mp.get("heap", {})
    if "import" in hp and heap:
        rep.add(
            "  smallest heap (.mpy): import ws.client %d KiB; + connect and close %d KiB; "
            "+ 1000 echoes of 1 KiB %d KiB" % (hp["import"][0], hp["connect"][0], heap[0])
        )
    if "core" in hp:
        rep.add("  smallest heap for ws.protocol over a blocking socket (no asyncio): %d KiB" % hp["core"][0])
    if heap and heap[1]:
        rep.add("  at %d KiB the client fails with: %s" % (heap[0] - 1, heap[1]))
    live = mp.get("live")
    if live:
        prev = live[0][1]
        parts = []
        loaded = []
        for stage, used in live[1:]:
            if stage.startswith("while connecting: "):
                loaded.append("%s %.1f" % (stage[18:], used / 1024))
                continue
            if abs(used - prev) >= 256:  # smaller steps are GC noise
                parts.append("%s +%.1f" % (stage, (used - prev) / 1024))
            prev = used
        rep.add("  heap in use (KiB) at start %.1f, then: %s" % (live[0][1] / 1024, ", ".join(parts)))
        rep.add("  => %.1f KiB live after 1000 echoes" % (live[-1][1] / 1024))
        if loaded:
            rep.add("  loaded while connecting, one at a time, then dropped (KiB): " + ", ".join(loaded))


def heap_only(info, mp):
    """The report of python -m bench --heap-only: the smallest heap and where the heap goes."""
    rep = Report()
    rep.add("== make bench --heap-only: the smallest MicroPython heap of our client (.mpy) ==")
    rep.add("%s; MicroPython %s (unix port)." % (info["where"], info["mp_version"]))
    _heap_target(rep, mp)
    _heap_details(rep, mp, mp.get("heap", {}).get("client"))
    return rep


def _layers(rep, info, rtt, with_alloc):
    rep.add("")
    rep.add("  what each layer costs (same runs; ratio = median / floor median, per round then median)")
    head = "  %-48s" % "variant"
    for size in (32, 1024):
        head += " %-22s" % ("%s: median, ratio" % ("32 B" if size == 32 else "1 KiB"))
    if with_alloc:
        head += " alloc per 1 KiB round trip (send + recv)"
    rep.add(head)
    for key, label in VARIANTS:
        if "%d" in label:
            label = label % info["rx"]
        cells = []
        seen = False
        for size in (32, 1024):
            s = summary(rtt[size], key)
            if s:
                seen = True
                cells.append("%-22s" % ("%s  %.2f×" % (_us(s[0]), s[1])))
            else:
                cells.append("%-22s" % "-")
        if not seen:
            continue
        line = "  %-48s %s" % (label, " ".join(cells))
        if with_alloc:
            line += " " + _bytes(alloc(rtt[1024], key))
        rep.add(line)
    s = summary(rtt[32], "client")
    if s:
        for size in (32, 1024):
            s = summary(rtt[size], "client")
            rep.add(
                "  client/floor per round, %s: %s"
                % ("32 B" if size == 32 else "1 KiB", " ".join("%.2f" % r for r in s[2]))
            )


def _cpython(rep, info, cp):
    rep.add("")
    rep.add("CPython %s (reference, no targets)" % info["cp_version"])
    _layers(rep, info, cp["rtt"], with_alloc=False)
    m = cp["mask"]["results"]["mask16_portable"]
    rep.add(
        "  masking throughput: mask16 is mask16_portable here (no viper): %.0f MB/s at 1 KiB, "
        "%.0f MB/s at 16 KiB" % (m["1024"], m["16384"])
    )
