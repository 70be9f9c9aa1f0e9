"""The stages: each reads the lake, runs the annotators or the trainer, and writes its outputs
with its `runs` row (sample, ingest, verify, annotate, describe, agreement, generate, curate,
export, labelstudio review, report, demo). `cli.py` assembles their commands.

    stratagem --help
    from pipeline.ingest import ingest; from pipeline.curate import curate   # the same, as functions
"""
