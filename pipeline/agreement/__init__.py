"""Agreement between annotators: one way to name an annotator and one loader, shared by
`stratagem agreement`, the dataset card and the report.

    from pipeline.agreement import AnnotatorRef, agreement, load_spans, compare_pair
    result, meta = agreement(lake, "rules", "gold")

Modules: ref (AnnotatorRef: `NAME`, `NAME@VERSION`, `gold`), stage (the spans a ref selects,
the loader, the pairwise comparison, the CLI's figures), reviewed (the task parts a person
submitted, and a comparison restricted to what both sides reviewed), command (`stratagem agreement`).
Metric definitions: annotators/agreement.py.
"""
from pipeline.agreement.ref import EVERY_GOLD, GOLD, AnnotatorRef
from pipeline.agreement.reviewed import Annotation, Restricted, restrict
from pipeline.agreement.stage import (AgreementError, Loaded, agreement, annotators, compare_pair, compare_restricted,
                                      load_spans, resolve, selected_spans, shared_trajectories)

__all__ = ["EVERY_GOLD", "GOLD", "AgreementError", "Annotation", "AnnotatorRef", "Loaded", "Restricted", "agreement",
           "annotators", "compare_pair", "compare_restricted", "load_spans", "resolve", "restrict", "selected_spans",
           "shared_trajectories"]
