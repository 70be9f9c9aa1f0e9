"""Money families: shopping totals, percentage discounts with tax, and ticket prices by age.

    from pipeline.sample.families.money import Shopping, Percentages, Tickets
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import (
    F, Calc, Family, Guess, Problem, Solution, listing, money, num, two_people,
)

ITEMS = (
    "notebooks", "pens", "apples", "muffins", "candles", "stickers", "mugs", "postcards", "bagels", "erasers",
    "plant pots", "bottles of juice", "tennis balls", "bars of soap", "rolls of tape", "packs of cards",
)
PRICES = tuple(F(c, 100) for c in (50, 75, 125, 150, 175, 200, 225, 250, 300, 325, 350, 400, 450, 500, 600, 750))
GOODS = ("jacket", "lamp", "bicycle helmet", "backpack", "pair of boots", "desk chair", "toaster", "guitar case")
STORES = ("bookshop", "market", "hardware store", "bakery", "toy shop", "garden centre")


class Shopping(Family):
    def __init__(self) -> None:
        super().__init__("shopping", {"planning": 0.6, "decomposition": 0.85, "recall": 0.15, "verification": 0.55,
                                      "backward_chaining": 0.1, "exploration": 0.05})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        k = 3 if difficulty >= 3 else 2
        counts = [rng.randint(2, 4 + 2 * difficulty) for _ in range(k)]
        prices = rng.sample(PRICES, k)
        total = sum(c * p for c, p in zip(counts, prices))
        bill = next(b for b in (10, 20, 50, 100, 200) if b > total)
        return {"counts": counts, "prices": prices, "bill": bill, "k_other": rng.randint(2, 9)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        items = rng.sample(ITEMS, 4)
        return {"P": p, "Q": q, "items": items[:3], "other": items[3], "store": rng.choice(STORES)}

    def _parts(self, v: dict) -> list[tuple[int, str, F]]:
        k = len(v["counts"])
        return list(zip(v["counts"], v["items"][:k], v["prices"]))

    def _cost(self, c: int, item: str, p: F) -> Calc:
        return Calc(f"the cost of the {item}", f"{c} × {money(p)}", c * p, is_money=True, fact=0)

    def _base(self, v: dict) -> tuple[list[str], list[Calc], Solution]:
        parts = self._parts(v)
        facts = [f"At the {v['store']}, {v['P']} buys " + listing([f"{c} {i} at {money(p)} each" for c, i, p in parts]) + "."]
        costs = [self._cost(*part) for part in parts]
        total = Calc("the total", " + ".join(c.show() for c in costs), sum(c.value for c in costs), is_money=True)
        calcs = costs + [total]
        sol = Solution(
            plan=("work out what each kind of item costs", "add those amounts"),
            calcs=tuple(calcs),
            facts=("the cost of several identical items is the number of items times the price of one",),
            guesses=(Guess("rounding every price up to whole dollars",
                           f"an estimate of {money(sum(c * -(-p // 1) for c, _, p in parts))}, an upper bound for the exact total", True),),
            check=" + ".join(c.show() for c in reversed(costs)) + f" = {total.show()}",
        )
        return facts, calcs, sol

    def original(self, v: dict) -> Problem:
        facts, _, sol = self._base(v)
        return Problem(self.name, tuple(facts), f"How much does {v['P']} spend in total?", sol)

    def reversed(self, v: dict) -> Problem:
        parts = self._parts(v)
        *known, (c_last, item_last, p_last) = parts
        total = sum(c * p for c, _, p in parts)
        facts = [f"At the {v['store']}, {v['P']} buys " + listing(
            [f"{c} {i} at {money(p)} each" for c, i, p in known] + [f"some {item_last} at {money(p_last)} each"])
            + f", spending {money(total)} in total."]
        costs = [self._cost(*part) for part in known]
        spent = " − ".join([money(total)] + [c.show() for c in costs])
        rest = Calc(f"the money spent on the {item_last}", spent, c_last * p_last, is_money=True)
        count = Calc(f"the number of {item_last}", f"{rest.show()} ÷ {money(p_last)}", F(c_last), fact=0)
        sol = Solution(
            plan=("take away what the other items cost", f"divide what is left by the price of one of the {item_last}"),
            calcs=tuple(costs + [rest, count]),
            facts=("the cost of several identical items is the number of items times the price of one",),
            need=(f"the number of {item_last}", f"the money spent on the {item_last}"),
            check=" + ".join(f"{c} × {money(p)}" for c, _, p in parts) + f" = {money(total)}",
        )
        return Problem(self.name, tuple(facts), f"How many {item_last} does {v['P']} buy?", sol)

    def extra_step(self, v: dict) -> Problem:
        facts, calcs, sol = self._base(v)
        total = calcs[-1]
        change = Calc("the change", f"{money(v['bill'])} − {total.show()}", v["bill"] - total.value, is_money=True)
        sol = Solution(plan=("add up what the items cost", "subtract the total from the bill"),
                       calcs=tuple(calcs + [change]), facts=sol.facts,
                       check=f"{change.show()} + {total.show()} = {money(v['bill'])}")
        return Problem(self.name, tuple(facts + [f"{v['P']} pays with a {money(v['bill'])} bill."]),
                       f"How much change does {v['P']} get?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([
            f"{v['Q']} bought {v['k_other']} {v['other']} there the day before.",
            f"The {v['store']} has been open for {v['k_other'] + 3} years.",
            f"{v['P']} also looked at {v['other']}, which cost {money(PRICES[v['k_other']])} each, but bought none.",
        ])


class Percentages(Family):
    def __init__(self) -> None:
        super().__init__("percentages", {"planning": 0.5, "decomposition": 0.7, "recall": 0.7, "verification": 0.6,
                                         "backward_chaining": 0.15, "exploration": 0.05})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        return {"price": F(20 * rng.randint(2, 5 + 5 * difficulty)), "off": rng.choice((10, 15, 20, 25, 30, 40)),
                "tax": rng.choice((5, 10)) if difficulty >= 2 else 0, "qty": rng.randint(2, 5),
                "k_other": rng.randint(3, 12)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q, "item": rng.choice(GOODS), "store": rng.choice(STORES)}

    def _calcs(self, v: dict) -> list[Calc]:
        price, off, tax = v["price"], v["off"], v["tax"]
        disc = Calc("the discount", f"{off}% of {money(price)} = {num(F(off, 100))} × {money(price)}",
                    price * off / 100, is_money=True, fact=0)
        sale = Calc("the sale price", f"{money(price)} − {disc.show()}", price - disc.value, is_money=True)
        calcs = [disc, sale]
        if tax:
            t = Calc("the tax", f"{tax}% of {sale.show()} = {num(F(tax, 100))} × {sale.show()}",
                     sale.value * tax / 100, is_money=True, fact=0)
            calcs += [t, Calc("the final price", f"{sale.show()} + {t.show()}", sale.value + t.value, is_money=True)]
        return calcs

    def _final(self, v: dict) -> F:
        return v["price"] * (100 - v["off"]) / 100 * (100 + v["tax"]) / 100

    def _facts(self, v: dict) -> tuple[str, ...]:
        out = ("a percentage is a number of hundredths, so p% of an amount is p/100 times the amount",
               f"taking {v['off']}% off leaves {100 - v['off']}% of the price")
        return out

    def _statement(self, v: dict) -> str:
        s = f"A {v['item']} at the {v['store']} costs {money(v['price'])}, and it is on sale for {v['off']}% off"
        return s + (f". A {v['tax']}% sales tax is then added to the sale price." if v["tax"] else ".")

    def _check(self, v: dict) -> str:
        s = f"{money(v['price'])} × {num(F(100 - v['off'], 100))}"
        if v["tax"]:
            s += f" × {num(F(100 + v['tax'], 100))}"
        return s + f" = {money(self._final(v))}"

    def original(self, v: dict) -> Problem:
        plan = ("find the discount and the sale price", "add the tax on the sale price") if v["tax"] else \
               ("find how much the discount takes off", "subtract it from the price")
        sol = Solution(plan=plan, calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v),
                       guesses=(Guess(f"a price of {money(v['price'])} with half off", f"it would cost {money(v['price'] / 2)}, so with only {v['off']}% off it must cost more than that", True),))
        return Problem(self.name, (self._statement(v),), f"How much does {v['P']} pay for the {v['item']}?", sol)

    def reversed(self, v: dict) -> Problem:
        off, tax, final = v["off"], v["tax"], self._final(v)
        calcs = []
        sale_value = final * 100 / (100 + tax)
        if tax:
            calcs.append(Calc("the sale price before tax", f"{money(final)} ÷ {num(F(100 + tax, 100))}", sale_value,
                              is_money=True, fact=0))
        calcs.append(Calc("the original price", f"{money(sale_value)} ÷ {num(F(100 - off, 100))}", v["price"],
                          is_money=True, fact=1))
        statement = f"{v['P']} buys a {v['item']} at {off}% off" + (f" and pays a {tax}% sales tax on the sale price" if tax else "")
        sol = Solution(plan=("undo the tax by dividing" if tax else "note what fraction of the price is paid",
                             "undo the discount by dividing by the fraction of the price that remains"),
                       calcs=tuple(calcs), facts=self._facts(v),
                       need=("the original price", "the sale price before tax" if tax else "the fraction of the price paid"),
                       check=self._check(v))
        return Problem(self.name, (statement + f", paying {money(final)} in all.",),
                       f"What was the original price of the {v['item']}?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        last = calcs[-1]
        total = Calc("the cost of all of them", f"{v['qty']} × {last.show()}", v["qty"] * last.value, is_money=True)
        sol = Solution(plan=("find the price of one after the discount" + (" and tax" if v["tax"] else ""),
                             f"multiply it by {v['qty']}"),
                       calcs=tuple(calcs + [total]), facts=self._facts(v),
                       check=f"{v['qty']} × ({self._check(v)}) = {total.show()}")
        return Problem(self.name, (self._statement(v), f"{v['P']} buys {v['qty']} of them."),
                       f"How much does {v['P']} pay altogether?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([
            f"Last month the {v['store']} sold {v['k_other'] * 10} of them.",
            f"{v['Q']} has a coupon for {v['k_other']}% off a different item.",
            f"The {v['store']} is {v['k_other']} minutes from {v['P']}'s home.",
        ])


PLACES = ("museum", "zoo", "aquarium", "cinema", "science centre", "water park", "castle")


class Tickets(Family):
    """Ticket prices by age: every person falls in one of two cases."""

    def __init__(self) -> None:
        super().__init__("tickets", {"planning": 0.5, "decomposition": 0.3, "recall": 0.4, "verification": 0.55,
                                     "backward_chaining": 0.1, "exploration": 0.2})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        cut = rng.choice((12, 13, 16))
        child = F(rng.choice((400, 450, 500, 600, 750, 800)), 100)
        adult = child + rng.randint(3, 10)
        n = 3 + difficulty + rng.randint(0, 1)
        kids = rng.randint(1, n - 1)
        ages = [rng.randint(2, cut - 1) for _ in range(kids)] + [rng.randint(cut + 1, 70) for _ in range(n - kids)]
        if difficulty >= 2:                       # someone exactly at the cut-off pays the adult price
            ages[-1] = cut
        rng.shuffle(ages)
        return {"cut": cut, "child": child, "adult": adult, "ages": ages, "fee": F(rng.choice((50, 75, 100, 150)), 100),
                "k_other": rng.randint(3, 30)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q, "place": rng.choice(PLACES)}

    def _split(self, v: dict) -> tuple[list[int], list[int]]:
        young = [a for a in v["ages"] if a < v["cut"]]
        return young, [a for a in v["ages"] if a >= v["cut"]]

    def _group(self, v: dict) -> str:
        return f"{v['P']} buys tickets for a group of {len(v['ages'])} people aged {listing([str(a) for a in v['ages']])}."

    def _facts(self, v: dict) -> tuple[str, ...]:
        return (f"\"under {v['cut']}\" means younger than {v['cut']}, so someone who is exactly {v['cut']} pays the adult price",)

    def _cases(self, v: dict) -> list[Calc]:
        young, old = self._split(v)
        ages = lambda xs: f"age{'s' if len(xs) > 1 else ''} {listing([str(a) for a in xs])}"
        return [Calc("the children's tickets", f"{len(young)} × {money(v['child'])}", len(young) * v["child"], is_money=True,
                     fact=0, case=f"the person is under {v['cut']} ({ages(young)})"),
                Calc("the adults' tickets", f"{len(old)} × {money(v['adult'])}", len(old) * v["adult"], is_money=True,
                     fact=0, case=f"the person is {v['cut']} or older ({ages(old)})")]

    def _total(self, v: dict) -> F:
        young, old = self._split(v)
        return len(young) * v["child"] + len(old) * v["adult"]

    def _check(self, v: dict) -> str:
        young, n = self._split(v)[0], len(v["ages"])
        full = n * v["adult"]
        saved = len(young) * (v["adult"] - v["child"])
        return (f"at the adult price everyone would pay {n} × {money(v['adult'])} = {money(full)}, each child saves "
                f"{money(v['adult'] - v['child'])}, and {money(full)} − {len(young)} × {money(v['adult'] - v['child'])} = "
                f"{money(full - saved)}")

    def _statement(self, v: dict) -> tuple[str, ...]:
        return (f"At the {v['place']}, a ticket costs {money(v['adult'])} for adults and {money(v['child'])} for children "
                f"under {v['cut']}.", self._group(v))

    def original(self, v: dict) -> Problem:
        cases = self._cases(v)
        total = Calc("the total", f"{cases[0].show()} + {cases[1].show()}", self._total(v), is_money=True)
        n = len(v["ages"])
        sol = Solution(plan=("sort the people by age into children and adults", "price each group and add"),
                       calcs=(*cases, total), facts=self._facts(v), check=self._check(v),
                       case_split=f"whether each person is under {v['cut']}",
                       guesses=(Guess("everyone paying the adult price", f"{n} × {money(v['adult'])} = {money(n * v['adult'])}, "
                                      "an upper bound for the total", True),))
        return Problem(self.name, self._statement(v), "How much do the tickets cost altogether?", sol)

    def reversed(self, v: dict) -> Problem:
        young, old = self._split(v)
        total = self._total(v)
        kids = Calc("the children's tickets", f"{len(young)} × {money(v['child'])}", len(young) * v["child"], is_money=True, fact=0)
        rest = Calc("the adults' tickets together", f"{money(total)} − {kids.show()}", len(old) * v["adult"], is_money=True)
        one = Calc("the price of an adult ticket", f"{rest.show()} ÷ {len(old)}", v["adult"], is_money=True, fact=0)
        sol = Solution(plan=("count the children and adults and take away what the children's tickets cost",
                             "share the rest among the adults"),
                       calcs=(kids, rest, one), facts=self._facts(v), check=self._check(v),
                       need=("the price of an adult ticket", "what the adults' tickets cost together"))
        facts = (f"At the {v['place']}, a ticket costs {money(v['child'])} for children under {v['cut']} and more for adults.",
                 self._group(v), f"The tickets cost {money(total)} altogether.")
        return Problem(self.name, facts, "How much does an adult ticket cost?", sol)

    def extra_step(self, v: dict) -> Problem:
        cases = self._cases(v)
        n = len(v["ages"])
        total = Calc("the cost of the tickets", f"{cases[0].show()} + {cases[1].show()}", self._total(v), is_money=True)
        fees = Calc("the booking fees", f"{n} × {money(v['fee'])}", n * v["fee"], is_money=True)
        pay = Calc("the total to pay", f"{total.show()} + {fees.show()}", total.value + fees.value, is_money=True)
        sol = Solution(plan=("price the children's and adults' tickets separately", "add a booking fee for every ticket"),
                       calcs=(*cases, total, fees, pay), facts=self._facts(v), check=self._check(v),
                       case_split=f"whether each person is under {v['cut']}")
        return Problem(self.name, self._statement(v) + (f"Booking online adds {money(v['fee'])} per ticket.",),
                       f"How much does {v['P']} pay in total when booking online?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"The {v['place']} opened {v['k_other']} years ago.",
                           f"{v['Q']} went there {v['k_other'] % 6 + 2} weeks ago.",
                           f"The {v['place']} has {v['k_other'] + 5} staff members."])
