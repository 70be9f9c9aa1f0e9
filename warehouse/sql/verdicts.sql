-- One verdict per trajectory, the one readers should act on: the verdict of the latest run
-- (a new checker version's rule verdict supersedes an older one; a judge verdict, written
-- after the rule verdict it re-judged, supersedes that). Ties within one run: judge first.
CREATE OR REPLACE VIEW lake.current_verdicts AS
    SELECT v.*
    FROM lake.verdicts v
    LEFT JOIN lake.runs r USING (run_id)
    QUALIFY row_number() OVER (PARTITION BY v.trajectory_id
                               ORDER BY r.started_at DESC NULLS LAST, v.judge_model IS NOT NULL DESC,
                                        v.run_id DESC) = 1;
