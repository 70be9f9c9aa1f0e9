"""The price table: USD per million input / output tokens per model, from a TOML file.

    prices = load_prices()                 # llm/prices.toml, or $STRATAGEM_PRICES
    prices.cost("gpt-4o-mini", 1200, 300)  # -> float
    prices.cost("some-local-model", 5, 5)  # -> None: unknown, never a fake 0
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRICES = Path(__file__).with_name("prices.toml")


class PriceError(ValueError):
    """A price file that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class PriceTable:
    per_mtok: dict[str, tuple[float, float]]  # model -> (input, output) USD per million tokens

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        price = self.per_mtok.get(model)
        if price is None:
            return None
        return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


def load_prices(path: str | Path | None = None) -> PriceTable:
    path = Path(path or os.environ.get("STRATAGEM_PRICES") or DEFAULT_PRICES)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceError(f"cannot read price table {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PriceError(f"price table {path} is not valid TOML: {exc}") from exc
    table: dict[str, tuple[float, float]] = {}
    for model, entry in (data.get("models") or {}).items():
        try:
            inp, outp = float(entry["input"]), float(entry["output"])
        except (TypeError, KeyError, ValueError):
            raise PriceError(f"price table {path}: model {model!r} needs numeric 'input' and 'output'") from None
        if inp < 0 or outp < 0:
            raise PriceError(f"price table {path}: model {model!r} has a negative price")
        table[model] = (inp, outp)
    return PriceTable(table)
