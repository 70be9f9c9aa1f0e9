"""The current verdict of each trajectory, and the verdict breakdowns `stratagem status` and the
HTML report show; `stratagem curate` filters on the same current verdict (one rule for all three).

    sql = current_verdicts_sql(lake)             # a SELECT: one row per trajectory that has a verdict
    sql = current_verdicts_sql(lake, at="$s")    # ... as of a snapshot: FROM verdicts AT (VERSION => $s)
    b = verdict_breakdown(lake)                  # b["by_source_teacher"], b["by_method"], b["samples"], ...

The current verdict is the one from the newest checker version: the first number in the
version decides (`answers-10` is newer than `answers-9`), then a judge verdict (`verify --judge`,
judge_model set) over the rule checker's, then the latest run. Re-verifying with
an older checker later, or a run id that sorts after a newer checker's, never overrides it.
Outcomes are correct | incorrect | unknown | no_reference. Verdicts written before the
checker was three-valued (a lake without the `outcome` column, or NULL in it) are read from
`is_correct`: true -> correct, false -> incorrect, NULL -> no_reference.

Imports nothing beyond the standard library: `stratagem status` loads this module. Its queries
take no parameters: DuckDB's Python client imports pandas (~1 s) on the first query with any.
"""
from __future__ import annotations

OUTCOMES = ("correct", "incorrect", "unknown", "no_reference")
SAMPLED = ("incorrect", "unknown")
SAMPLE_ROWS = 5  # rows per sampled outcome

def _verdict_columns(lake) -> set[str]:
    return {r[0] for r in lake.rows("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_catalog = 'lake' AND table_name = 'verdicts'")}


def current_verdicts_sql(lake, at: str | None = None) -> str:
    """A SELECT of (trajectory_id, extracted_answer, extraction, outcome, confidence,
    checker_version, run_id): each trajectory's verdict from the newest checker version.
    `at` is a query parameter (e.g. "$s" or "?") holding a snapshot id to read at."""
    have = _verdict_columns(lake)
    outcome = "v.outcome" if "outcome" in have else "NULL"
    confidence = "v.confidence" if "confidence" in have else "CAST(NULL AS DOUBLE)"
    judged = "v.judge_model IS NOT NULL" if "judge_model" in have else "false"
    version = f" AT (VERSION => {at})" if at else ""
    # arg_max over a struct key (compared field by field) is a hash aggregate: several times
    # cheaper than a row_number() window on a lake of 16k verdicts.
    return f"""
        SELECT trajectory_id, unnest(newest) FROM (
            SELECT v.trajectory_id, arg_max(struct_pack(
                       extracted_answer := v.extracted_answer, extraction := v.extraction,
                       outcome := coalesce({outcome}, CASE WHEN v.is_correct THEN 'correct'
                                                           WHEN NOT v.is_correct THEN 'incorrect'
                                                           ELSE 'no_reference' END),
                       confidence := {confidence}, checker_version := v.checker_version, run_id := v.run_id),
                   struct_pack(number := coalesce(TRY_CAST(regexp_extract(v.checker_version, '\\d+') AS BIGINT), -1),
                               judged := {judged}, run_id := v.run_id, version := v.checker_version)) AS newest
            FROM verdicts v{version} GROUP BY 1)"""


def _counts(row: tuple) -> dict[str, int]:
    return dict(zip(OUTCOMES, (int(n) for n in row))) | {"total": int(sum(row))}


_COUNTS = ", ".join(f"count(*) FILTER (WHERE v.outcome = '{o}')" for o in OUTCOMES)


def verdict_breakdown(lake, sample: int = SAMPLE_ROWS) -> dict:
    """Current verdicts counted by (source, teacher) and by extraction method, the checker
    versions they come from, and the first `sample` incorrect and unknown rows (by trajectory id,
    a content hash, so a spread over sources). Empty dict when the lake has no verdicts."""
    cur = current_verdicts_sql(lake)
    joined = f"({cur}) v JOIN trajectories t USING (trajectory_id) LEFT JOIN problems p USING (problem_id)"
    by_source, by_method, versions = [], [], {}
    for source, teacher, method, version, which, *counts in lake.rows(f"""
            SELECT p.source, t.teacher, v.extraction, v.checker_version,
                   GROUPING(p.source, t.teacher, v.extraction, v.checker_version), {_COUNTS}
            FROM {joined}
            GROUP BY GROUPING SETS ((p.source, t.teacher), (v.extraction), (v.checker_version))
            ORDER BY 5, p.source NULLS LAST, t.teacher, count(*) DESC, v.extraction, v.checker_version"""):
        if which == 0b0011:
            by_source.append({"source": source, "teacher": teacher} | _counts(counts))
        elif which == 0b1101:
            by_method.append({"method": method} | _counts(counts))
        else:
            versions[version] = _counts(counts)["total"]
    if not by_source:
        return {}
    samples = [{"outcome": o, "trajectory_id": tid, "extracted_answer": ans, "reference": ref, "method": m,
                "confidence": conf, "source": src, "teacher": teacher}
               for o, tid, ans, ref, m, conf, src, teacher in lake.rows(f"""
        WITH v AS (SELECT * FROM ({cur}) WHERE outcome IN {tuple(SAMPLED)!r}
                   QUALIFY row_number() OVER (PARTITION BY outcome ORDER BY trajectory_id) <= {int(sample)})
        SELECT v.outcome, v.trajectory_id, v.extracted_answer, p.reference_answer, v.extraction, v.confidence,
               p.source, t.teacher
        FROM v JOIN trajectories t USING (trajectory_id) LEFT JOIN problems p USING (problem_id)
        ORDER BY v.outcome, v.trajectory_id""")]
    return {"outcomes": list(OUTCOMES), "by_source_teacher": by_source, "by_method": by_method,
            "checker_versions": dict(sorted(versions.items())), "samples": samples, "sample_rows": sample}
