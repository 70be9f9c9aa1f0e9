"""The verify stage: verdicts for every trajectory, idempotent reruns, no-reference problems."""
from __future__ import annotations

from schemas import Problem, Trajectory, content_id, text_sha, to_arrow
from pipeline.verify import verify
from warehouse import Lake


def seed(lake: Lake) -> None:
    problems = [Problem(problem_id="p1", source="t", question="2+2?", reference_answer="4"),
                Problem(problem_id="p2", source="t", question="open question", reference_answer=None)]
    texts = [("p1", "2 plus 2 is \\boxed{4}."), ("p1", "I think it is 5.\n#### 5"), ("p2", "anything 3")]
    trajs = [Trajectory(trajectory_id=content_id("trajectory", p, "t", text_sha(t)), problem_id=p, teacher="t",
                        text=t, text_sha=text_sha(t), n_chars=len(t)) for p, t in texts]
    lake.insert("problems", to_arrow(problems, Problem))
    lake.insert("trajectories", to_arrow(trajs, Trajectory))


def test_verify_judges_each_trajectory_once(lake_root):
    with Lake.open(lake_root) as lake:
        seed(lake)
        report = verify(lake, batch_size=2)
        assert report.counts["read"] == 3
        assert (report.counts["correct"], report.counts["incorrect"], report.counts["no_reference"]) == (1, 1, 1)
        rows = sorted(lake.rows("SELECT extracted_answer, extraction, is_correct FROM verdicts"), key=str)
        assert rows == sorted([("4", "boxed", True), ("5", "hashes", False), ("3", "last_number", None)], key=str)
        again = verify(lake)
        assert again.counts.get("read", 0) == 0 and lake.count("verdicts") == 3
