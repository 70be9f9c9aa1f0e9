-- One verdict per trajectory, the one readers should act on: the newest checker version's (the
-- first number in the version decides, so `answers-10` is newer than `answers-9` and re-running
-- an older checker later never overrules a newer one), then a judge verdict (`verify --judge`,
-- judge_model set) over the rule checker's, then the latest run. The same rule as
-- pipeline/report/verdicts.py, which curate, status and the report use (they also read snapshots).
CREATE OR REPLACE VIEW lake.current_verdicts AS
    SELECT v.*
    FROM lake.verdicts v
    QUALIFY row_number() OVER (PARTITION BY v.trajectory_id
                               ORDER BY coalesce(TRY_CAST(regexp_extract(v.checker_version, '\d+') AS BIGINT), -1) DESC,
                                        v.judge_model IS NOT NULL DESC, v.run_id DESC,
                                        v.checker_version DESC) = 1;
