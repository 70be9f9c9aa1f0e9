"""Sharding a stage's pending work: `--shard I/N` on annotate, verify, describe and generate, and
`stratagem run STAGE --shards N [--ray]` (command.py), which starts all N.

    shard = Shard.parse("0/2")              # ValueError on a bad spec
    shard.lock_name("annotate")             # writer-annotate-0of2.lock (Lake.open's lock_name)
    shard_of("p-123", 2)                    # the shard of a family key, as the SQL computes it

A problem belongs to the shard its family key hashes to: coalesce(family_seed_id, problem_id),
so every perturbed variant of a seed lands in the shard of its seed, and a trajectory, verdict,
span or strategy goes where its problem goes. The hash is the first 32 bits of the key's MD5
modulo N, in SQL (pipeline.pending.shard_condition) and here alike: stable across processes,
machines and versions. The shards of one N are disjoint and cover everything, so N workers
never write the same key. Shards of different N overlap (0/2 and 0/3 share problems, and two
concurrent transactions inserting one key both commit it), so on one machine a worker is refused
while a shard of the same stage with another N runs (warehouse.connect.acquire_shard_lock);
across machines, start one N per stage (`stratagem run` does).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

import typer


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, spec: str) -> "Shard":
        index, sep, count = spec.strip().partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not sep or shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
            raise ValueError(f"--shard {spec!r}: expected I/N with 0 <= I < N, e.g. 0/4")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def lock_name(self, stage: str) -> str:
        """The worker's own lock file under the root where the catalog takes several writers."""
        return f"writer-{stage}-{self.index}of{self.count}.lock"

    def holder(self, stage: str) -> str:
        return f"{stage} {self}"


def stable_hash(key: str) -> int:
    """The first 32 bits of the MD5 of `key`: the same in every process, machine and version (and
    in SQL: pipeline.pending.shard_condition)."""
    return int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16)


def shard_of(family_key: str, count: int) -> int:
    """The shard (of `count`) a family key belongs to."""
    return stable_hash(family_key) % count


def parse_shard(spec: str | None) -> Shard | None:
    if spec is None:
        return None
    try:
        return Shard.parse(spec)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


SHARD_HELP = ("Only shard I of N of the pending work (I from 0): the problems whose family (family_seed_id, "
              "else problem_id) hashes to I, with their trajectories, so every variant of a seed is in one "
              "shard. On a postgres catalog the shards (and other stages' shards) write at once, each holding "
              "<root>/writer-<stage>-<I>of<N>.lock, while a whole-lake writer waits; on a sqlite or duckdb "
              "catalog a shard takes writer.lock like any writer: one at a time. `stratagem run STAGE "
              "--shards N` starts all N.")
ShardOpt = Annotated[Shard | None, typer.Option("--shard", metavar="I/N", parser=parse_shard, help=SHARD_HELP,
                                                show_default=False)]


def shard_lock(stage: str, shard: Shard | None) -> dict:
    """`lake_for` arguments of a stage's writer: the holder its lock names, and a shard's own lock
    file (used where the catalog takes several writers, Lake.open)."""
    if shard is None:
        return {"holder": stage}
    return {"holder": shard.holder(stage), "lock_name": shard.lock_name(stage)}
