"""Problem families of the built-in sample: each makes word problems with exact answers in
three forms (original, reversed, extra step) plus distractor sentences. `SHORT_FAMILIES`
have one-line solutions (the demo's tiny model can learn them); `ALL_FAMILIES` is both.

    from pipeline.sample.families import FAMILIES
    FAMILIES["ages"].original(v)
"""
from pipeline.sample.families.base import Calc, Family, Guess, Problem, Solution, money, num
from pipeline.sample.families.counting import GardenPath, Outfits
from pipeline.sample.families.lookup import Lookup
from pipeline.sample.families.money import Percentages, Shopping, Tickets
from pipeline.sample.families.puzzles import Ages, Averages, NumberPuzzle
from pipeline.sample.families.rates import UnitConversion, WorkRates

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Shopping(), WorkRates(), Ages(), Percentages(), UnitConversion(), Outfits(), GardenPath(), Averages(), NumberPuzzle(), Tickets(),
)}
SHORT_FAMILIES: dict[str, Family] = {f.name: f for f in (Lookup(),)}
ALL_FAMILIES: dict[str, Family] = FAMILIES | SHORT_FAMILIES

__all__ = ["ALL_FAMILIES", "FAMILIES", "SHORT_FAMILIES", "Calc", "Family", "Guess", "Problem", "Solution", "money", "num"]
