"""Agreement between annotators: one way to name an annotator and one loader, shared by
`stratagem agreement`, the dataset card and the report.

    from pipeline.agreement import AnnotatorRef, agreement, load_spans, compare_pair
    result, meta = agreement(lake, "rules", "gold")

Modules: ref (AnnotatorRef: `NAME`, `NAME@VERSION`, `gold`), stage (the spans a ref selects,
the loader, the pairwise comparison, the CLI's figures), command (`stratagem agreement`).
Metric definitions: annotators/agreement.py.
"""
from pipeline.agreement.ref import EVERY_GOLD, GOLD, AnnotatorRef
from pipeline.agreement.stage import (AgreementError, Loaded, agreement, annotators, compare_pair, load_spans, resolve,
                                      selected_spans, shared_trajectories)

__all__ = ["EVERY_GOLD", "GOLD", "AgreementError", "AnnotatorRef", "Loaded", "agreement", "annotators", "compare_pair",
           "load_spans", "resolve", "selected_spans", "shared_trajectories"]
