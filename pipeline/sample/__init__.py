"""Built-in sample data: procedural math word problems in several families, GSM-Plus-style
variants, and a procedural teacher whose trajectories carry gold strategy spans.

    from pipeline.sample import generate_records, write_sample
    stratagem sample --n 100 --seed 0 --out sample.jsonl
"""
from pipeline.sample.generate import check_variants, generate_records, records_per_seed, write_sample
from pipeline.sample.perturb import PERTURBATIONS
from pipeline.sample.teacher import TEACHER

__all__ = ["PERTURBATIONS", "TEACHER", "check_variants", "generate_records", "records_per_seed", "write_sample"]
