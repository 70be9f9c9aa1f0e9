"""What each stage would do next: one "pending" query per stage, run by the stage and counted by
`stratagem status`, so the two cannot disagree.

    rows = verify_batch(lake, "answers-3", after="", limit=5000)     # the verify stage, keyset pages
    ids = annotate_ids(lake, "rules", tagger.version, source=None)   # the annotate stage
    pairs = describe_pairs(lake, "rules", describer.version)         # the describe stage
    n = count(lake, "annotate", annotator="rules", version=v)        # the same set, counted
    for stage, key, n, what in pending_counts(lake): ...             # status: today's default keys
    ids = annotate_ids(lake, "rules", v, shard=Shard(0, 2))          # one shard of it (pipeline.shards)

- verify: trajectories with no verdict from checker version `checker_version`
  (annotators.answers.CHECKER_VERSION), so a new checker version makes every trajectory pending;
- annotate: trajectories with no `tagged` row (or, in lakes from before `tagged`, no span) from
  this annotator name and version, optionally of one source;
- describe: problems with a correct trajectory (current verdict) and no strategy from this
  describer name and version, each with the one trajectory the describer is given (the one
  with spans, then the shortest).
- verify --judge: rule verdicts of this checker version the judge model has not judged
  (unknown ones; with --judge-low-confidence, also decided ones below the threshold).
The judge's and generate's pending work depend on the endpoint's model, which has no default,
so status counts neither; generate's, which also depends on the sampling parameters, stays
with its stage (pipeline/generate/stage.py `pending_work`).

Every query takes a shard ($shard of $shards; 0 of 1, everything, when none is given): the
problems whose family key (coalesce(family_seed_id, problem_id)) hashes to it, by
`shard_condition`, so a stage run with `--shard I/N` and `status` count from the same query.

Stages bind the keys as query parameters. `count` binds the same parameters inside SQL
(PREPARE, then EXECUTE with quoted literals) because DuckDB's Python client imports pandas
(~1 s) on the first query that takes Python parameters, and status must stay fast.
Imports only the standard library at load time: `stratagem status` loads this module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from pipeline.shards import Shard
    from warehouse import Lake


def shard_condition(problem: str) -> str:
    """SQL true for the rows whose problem (alias `problem`) is in shard $shard of $shards: the
    first 32 bits of the MD5 of its family key, mod $shards (pipeline.shards.shard_of in Python)."""
    key = f"coalesce({problem}.family_seed_id, {problem}.problem_id)"
    return (f"(CAST($shards AS UBIGINT) <= 1 OR CAST(('0x' || left(md5({key}), 8)) AS UBIGINT) "
            f"% CAST($shards AS UBIGINT) = CAST($shard AS UBIGINT))")


def shard_params(shard: Shard | None) -> dict[str, int]:
    return {"shard": shard.index, "shards": shard.count} if shard is not None else {"shard": 0, "shards": 1}


_IN_SHARD = shard_condition("p")

# Each stage: (what is pending, as one SELECT with $named parameters; the pending rows the stage reads).
_VERIFY = f"""
    SELECT t.trajectory_id, t.text, p.reference_answer, p.question, p.source
    FROM trajectories t JOIN problems p USING (problem_id)
    WHERE NOT EXISTS (SELECT 1 FROM verdicts v
                      WHERE v.trajectory_id = t.trajectory_id AND v.checker_version = $checker_version)
      AND {_IN_SHARD}
"""
_ANNOTATE = f"""
    SELECT t.trajectory_id FROM trajectories t JOIN problems p USING (problem_id)
    WHERE (CAST($source AS VARCHAR) IS NULL OR p.source = $source)
      AND NOT EXISTS (SELECT 1 FROM tagged g WHERE g.trajectory_id = t.trajectory_id
                      AND g.annotator = $annotator AND g.annotator_version = $version)
      AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.trajectory_id = t.trajectory_id  -- lakes from before `tagged`
                      AND s.annotator = $annotator AND s.annotator_version = $version)
      AND {_IN_SHARD}
"""
_DESCRIBE = f"""
    SELECT DISTINCT c.problem_id FROM correct_trajectories c JOIN problems p USING (problem_id)
    WHERE (CAST($source AS VARCHAR) IS NULL OR p.source = $source)
      AND NOT EXISTS (SELECT 1 FROM strategies s WHERE s.problem_id = c.problem_id
                      AND s.annotator = $annotator AND s.annotator_version = $version)
      AND {_IN_SHARD}
"""
# One correct trajectory per pending problem: exactly one row per row of _DESCRIBE.
_DESCRIBE_PAIRS = f"""
    WITH todo AS ({_DESCRIBE}),
    ranked AS (
        SELECT c.problem_id, c.trajectory_id,
               row_number() OVER (PARTITION BY c.problem_id ORDER BY
                   (SELECT count(*) FROM current_spans s WHERE s.trajectory_id = c.trajectory_id) > 0 DESC,
                   c.n_chars, c.trajectory_id) AS k
        FROM correct_trajectories c JOIN todo USING (problem_id)
    )
    SELECT problem_id, trajectory_id FROM ranked WHERE k = 1 ORDER BY problem_id
"""
# verify --judge: rule verdicts of this checker version that are unknown (or, with $low, decided
# below $threshold confidence) and have no verdict from this judge model yet.
_JUDGE = f"""
    SELECT v.trajectory_id, p.question, p.reference_answer, t.text
    FROM verdicts v JOIN trajectories t USING (trajectory_id) JOIN problems p USING (problem_id)
    WHERE v.checker_version = $version AND v.judge_model IS NULL AND p.reference_answer IS NOT NULL
      AND (v.outcome = 'unknown'
           OR ($low AND v.outcome IN ('correct', 'incorrect') AND coalesce(v.confidence, 0) < $threshold))
      AND NOT EXISTS (SELECT 1 FROM verdicts j WHERE j.trajectory_id = v.trajectory_id
                      AND j.checker_version = $version AND j.judge_model = $model)
      AND {_IN_SHARD}
    ORDER BY v.trajectory_id
"""
PENDING = {"verify": _VERIFY, "annotate": _ANNOTATE, "describe": _DESCRIBE}
WHAT = {"verify": "trajectories without a verdict from this checker version",
        "annotate": "trajectories not yet tagged by this annotator version",
        "describe": "problems with a correct trajectory but no strategy from this describer version"}


def verify_batch(lake: Lake, checker_version: str, *, after: str, limit: int,
                 shard: Shard | None = None) -> pa.Table:
    """The next `limit` pending verify rows (trajectory_id, text, reference_answer, question,
    source) with trajectory_id > `after`, in trajectory_id order."""
    return lake.query(f"SELECT * FROM ({_VERIFY}) WHERE trajectory_id > $after ORDER BY trajectory_id LIMIT $limit",
                      {"checker_version": checker_version, "after": after, "limit": limit} | shard_params(shard))


def annotate_ids(lake: Lake, annotator: str, version: str, source: str | None = None, *,
                 shard: Shard | None = None) -> list[str]:
    """Pending trajectory ids for this annotator name and version, in id order."""
    return [r[0] for r in lake.rows(f"{_ANNOTATE} ORDER BY t.trajectory_id",
                                    {"source": source, "annotator": annotator, "version": version}
                                    | shard_params(shard))]


def describe_pairs(lake: Lake, describer: str, version: str, source: str | None = None, *,
                   shard: Shard | None = None) -> list[tuple[str, str]]:
    """(problem_id, trajectory_id) per pending problem for this describer name and version."""
    return [tuple(r) for r in lake.rows(_DESCRIBE_PAIRS, {"source": source, "annotator": describer,
                                                          "version": version} | shard_params(shard))]


def judge_rows(lake: Lake, checker_version: str, model: str, *, low_confidence: bool,
               threshold: float, shard: Shard | None = None) -> list[tuple]:
    """(trajectory_id, question, reference_answer, text) per verdict the LLM judge `model` would
    judge now, in trajectory_id order."""
    return lake.rows(_JUDGE, {"version": checker_version, "low": low_confidence, "threshold": threshold,
                              "model": model} | shard_params(shard))


def _literal(value: str | int | None) -> str:
    """A DuckDB SQL literal for a key value: NULL, an integer (a shard) or a single-quoted string
    (quotes doubled; a backslash is an ordinary character in DuckDB's standard strings)."""
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError(f"a pending key is a string without NUL characters, not {value!r}")
    return "'" + value.replace("'", "''") + "'"


def count(lake: Lake, stage: str, shard: Shard | None = None, **key: str | None) -> int:
    """How many rows `stage` would process for `key` (verify: checker_version; annotate and
    describe: annotator, version and optionally source) in `shard` (default: all); no Python
    query parameters."""
    sql = PENDING[stage]
    if stage != "verify":
        key.setdefault("source", None)
    key |= shard_params(shard)
    name = f"stratagem_pending_{stage}"
    lake.rows(f"PREPARE {name} AS SELECT count(*) FROM ({sql})")
    try:
        args = ", ".join(f"{k} := {_literal(v)}" for k, v in key.items())
        return int(lake.scalar(f"EXECUTE {name}({args})"))
    finally:
        lake.rows(f"DEALLOCATE {name}")


def checker_version() -> str:
    """The checker version verify judges with today."""
    import annotators.answers

    return annotators.answers.CHECKER_VERSION


def default_keys() -> dict[str, dict[str, str]]:
    """Each stage's key with its default annotator (rules) and today's versions, the keys
    `stratagem verify`, `annotate` and `describe` use when run without options."""
    from annotators.describe_rules import RulesDescriber, describer_version
    from annotators.rules import RulesTagger, rules_version
    from schemas.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    return {"verify": {"checker_version": checker_version()},
            "annotate": {"annotator": RulesTagger.name, "version": rules_version(taxonomy)},
            "describe": {"annotator": RulesDescriber.name, "version": describer_version(taxonomy)}}


def pending_counts(lake: Lake) -> list[tuple[str, str, int, str]]:
    """(stage, the key counted against, pending count, what is counted) per stage, with the
    default keys: what `stratagem <stage>` run now without options would process."""
    rows = []
    for stage, key in default_keys().items():
        label = key["checker_version"] if stage == "verify" else f"{key['annotator']} {key['version']}"
        rows.append((stage, label, count(lake, stage, **key), WHAT[stage]))
    return rows
