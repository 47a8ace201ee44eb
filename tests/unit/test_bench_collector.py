"""bench/collector.py's CPU table: the headline's map + validate + pack figure is shown
per source beside json.dumps, and its record-weighted mean is the headline's figure."""

from __future__ import annotations

from bench import collector, headline


def _row(source: str, records: int, pack_us: float) -> dict[str, object]:
    return {
        "source": source,
        "records": records,
        "map_us": 10.0,
        "map_validate_us": 20.0,
        "map_validate_pack_us": pack_us,
        "json_dumps_us": 4.0,
        "map_ratio": 2.5,
        "ratio": 5.0,
    }


def test_the_table_shows_map_validate_pack_and_the_headlines_weighted_figure() -> None:
    rows = [_row("sarif", 100, 30.0), _row("vendor", 300, 50.0)]
    lines = collector.render_cpu(rows)
    assert "+pack" in lines[2]
    sarif = next(line for line in lines if line.strip().startswith("sarif"))
    assert "30.0 us" in sarif
    assert "7.5x" in sarif  # 30 us over json.dumps' 4 us
    figure, _ = headline.compute({"cpu": {"per_record": rows}})
    assert figure["cpu_us_per_finding"] == 45.0  # (100 * 30 + 300 * 50) / 400
    total = lines[-1].split()
    assert total[:2] == ["all", "400"]
    assert "45.0" in total


def test_first_sight_empties_the_value_caches_but_not_the_compiled_validator() -> None:
    from hubrelay import asff, sources

    caches = collector._value_caches()
    # The caches a report's values warm are emptied before each first-sight pass ...
    assert sources._rfc3339_text in caches
    assert asff._valid_type in caches
    # ... and what a process builds once (the compiled validator) is not.
    assert asff._accepts not in caches
