-- Views every reader wants; (re)created when a writer opens a lake whose stored views_sha256
-- (lake.meta) differs from these files' hash (warehouse/lake.py `_ensure_tables`).
CREATE OR REPLACE VIEW lake.current_spans AS
    SELECT * FROM lake.spans WHERE superseded_by IS NULL;

CREATE OR REPLACE VIEW lake.current_strategies AS
    SELECT * FROM lake.strategies WHERE superseded_by IS NULL;

-- Trajectories whose current verdict (verdicts.sql) is correct: once each, and not when a newer
-- checker version or a judge overruled an older "correct".
CREATE OR REPLACE VIEW lake.correct_trajectories AS
    SELECT t.*
    FROM lake.trajectories t
    JOIN lake.current_verdicts v USING (trajectory_id)
    WHERE v.outcome = 'correct';
