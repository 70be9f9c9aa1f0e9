"""The answer formats of issue 11, each example it lists, on real strings: multiple choice,
equations and systems, sets and intervals, structure, units and text, booleans, the
tolerance policy, three-valued verdicts and reference-aware conclusions.

    .venv/bin/python -m pytest tests/test_answers_formats.py -q
"""
from __future__ import annotations

import sys
import threading

import pytest

from annotators.answers import CORRECT, INCORRECT, UNKNOWN, answers_match, compare, extract_answer, judge_answer

OPTIONS = "A train covers 90 km in 5 hours. Its speed?\nOptions: A)12 B)15 C)18 D)20 E)22"


@pytest.mark.parametrize("pred, ref", [
    # multiple choice
    ("Option C", "C"), ("\\text{(C)}", "C"), ("(c) 18", "18"), ("(C)", "C"), ("Correct Option: A", "A"),
    # equations and systems
    ("(f, k) = (3, -5)", "(3,-5)"), ("(f, k) = (3, -5)", "f = 3, k = -5"), ("v = -6, r = 3", "-6, 3"),
    ("v = -6, r = 3", "r=3, v=-6"), ("y = 2x", "2x"), ("y = 2x", "y=2x"), ("z = -15 + 8i", "-15+8i"), ("b(t) = 0", "0"),
    ("n \\equiv 5 \\pmod{17}", "5"), ("n \\equiv 22 \\pmod{17}", "n \\equiv 5 \\pmod{17}"), ("x \\equiv 3 \\pmod 7", "3"),
    # sets and intervals
    ("1,3,5", "5,3,1"), ("\\{1, 3, 5\\}", "\\{5,3,1\\}"), ("(0,1]", "(0,1]"), ("-1 \\leq k \\leq -\\frac12", "[-1,-\\frac{1}{2}]"),
    ("k \\geq 3", "[3,\\infty)"), ("x < 2", "(-\\infty, 2)"), ("(-\\infty, 3] \\cup (4, \\infty)", "(-\\infty,3]\\cup(4,\\infty)"),
    # structure
    ("\\frac{1}{2}x", "\\frac{x}{2}"), ("x^{2}-2x+2", "x^2-2x+2"), ("[11]", "11"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("\\mathbf{M} = \\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}", "(1,-2)"), ("\\sqrt[3]{2}", "2^{1/3}"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt2}"),
    # units and text, booleans, scientific notation
    ("5 m/s", "5"), ("144 \\text{ m}^3", "144\\mbox{m}^3"), ("144 \\text{ m}^3", "144"), ("9.8 m/s^2", "9.8"),
    ("Yes", "yes"), ("True", "true"), ("\\text{Evelyn}", "evelyn"),
    ("3\\times 10^{8}", "300000000"), ("1.2e-5", "0.000012"), ("400-289=\\mathbf{1 1 1}".split("=")[1], "111"),
])
def test_equal(pred, ref):
    assert compare(pred, ref) is True


@pytest.mark.parametrize("pred, ref", [
    ("(0,1]", "[0,1)"), ("[0,1]", "(0,1)"), ("-1 \\leq k < -\\frac12", "[-1,-\\frac{1}{2}]"),
    ("\\frac{1}{2}x", "\\frac{1}{2x}"), ("(1,2)", "(2,1)"), ("1,3", "1,3,5"), ("x^2+1", "x^2+2"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("Option B", "C"), ("(b) 15", "C"), ("True", "False"), ("no", "yes"), ("Evelyn", "Bob"),
    ("n \\equiv 6 \\pmod{17}", "5"), ("x = 2, y = 3", "6"), ("f = 3, k = 5", "(3,-5)"), ("12", "1,2"),
])
def test_different(pred, ref):
    assert compare(pred, ref) is False


def test_a_system_against_one_value_needs_the_question():
    # "p = 6, y = -4" against 6: right if p was asked, wrong if y was; without the problem, undecided
    assert compare("p = 6, \\quad y = -4", "6") is None
    assert compare("p = 6, \\quad y = -4", "6", problem="Find $p$ such that the line passes through (2, 3).") is True
    assert compare("p = 6, \\quad y = -4", "6", problem="Determine y where the two lines meet.") is False
    assert compare("x = 6, y = 6", "6") is True


def test_choice_against_the_options_a_problem_lists():
    assert compare("C", "18", problem=OPTIONS) is True
    assert compare("B", "18", problem=OPTIONS) is False
    assert compare("18", "C", problem=OPTIONS) is True
    assert compare("15", "C", problem=OPTIONS) is False
    assert compare("C", "18") is None  # a letter against a value, with no options to read


@pytest.mark.parametrize("text, answer, method", [
    ("The speed is 90/5 = 18 km/h.\nAnswer B", "B", "choice"),
    ("90 / 5 = 18, which is option A.\nCorrect Option: A", "A", "choice"),
    ("Speed = 90/5 = 18 km/h.\nAnswer: Option C", "Option C", "answer_is"),
    ("At first the answer is True. Checking the last case, it fails.\nAnswer is False", "False", "answer_is"),
])
def test_extraction_of_markers(text, answer, method):
    assert (extract_answer(text).answer, extract_answer(text).method) == (answer, method)


def test_the_last_marker_wins_for_booleans():
    text = "At first the answer is True. Checking the last case, it fails.\nAnswer is False"
    assert judge_answer(text, "True").outcome == INCORRECT
    assert judge_answer(text, "False").outcome == CORRECT


def test_choice_verdicts_through_judge_answer():
    assert judge_answer("Speed = 90/5 = 18 km/h.\nAnswer: Option C", "C").outcome == CORRECT
    assert judge_answer("Speed = 90/5 = 18 km/h.\nAnswer: Option C", "18", problem=OPTIONS).outcome == CORRECT
    assert judge_answer("90 / 5 = 18.\nCorrect Option: A", "C").outcome == INCORRECT


@pytest.mark.parametrize("pred, ref, problem, expected", [
    ("7068.58", "2250\\pi", None, False), ("8.062258", "\\sqrt{65}", None, False), ("1.732", "\\sqrt{3}", None, False),
    ("7068.58", "2250\\pi", "Round your answer to the nearest hundredth.", True),
    ("8.062258", "\\sqrt{65}", "Express the distance as a decimal to six places.", True),
    ("1.732", "\\sqrt{3}", "Give your answer as a decimal.", True),
    ("7068.59", "2250\\pi", "Round your answer to the nearest hundredth.", False),  # 7068.583... rounds to .58
    ("0.33", "\\frac{1}{3}", None, False), ("0.33", "\\frac{1}{3}", "Round to the nearest hundredth.", True),
    ("2\\pi", "6.283185307", None, True),  # a decimal reference declares that a decimal was asked
    ("\\sqrt{18}", "3\\sqrt{2}", None, True), ("0.75", "\\frac{3}{4}", None, True), ("1", "\\frac{3}{4}", "Round it.", False),
])
def test_tolerance_policy_default(pred, ref, problem, expected):
    assert compare(pred, ref, problem=problem) is expected


def test_tolerance_policy_named():
    assert compare("1.732", "\\sqrt{3}", tolerance="decimal_ok") is True
    assert compare("1.732", "\\sqrt{3}", problem="Give a decimal.", tolerance="exact") is False
    assert compare("2\\pi", "6.283185307", tolerance="exact") is False
    assert compare("1.732", "\\sqrt{3}", tolerance="1e-3") is True
    assert compare("1.732", "\\sqrt{3}", tolerance="1e-6") is False
    with pytest.raises(ValueError, match="unknown tolerance policy"):
        judge_answer("\\boxed{1}", "1", tolerance="roughly")


# ------------------------------------------------------------------ verdicts and conclusions
def test_no_marker_last_number_is_never_incorrect():
    text = "Completing the square, $f(x)=(x-1)^2+1$, and expanding gives $f(x)=x^{2}-2x+2$"
    got = judge_answer(text, "x^2+1")
    assert (got.outcome, got.method, got.answer, got.confidence) == (UNKNOWN, "last_number", "2", 0.3)
    assert judge_answer("We get 3 and then 5 after that", "4").outcome == UNKNOWN


def test_conclusion_final_formula():
    text = "Completing the square, $f(x)=(x-1)^2+1$, and expanding gives $f(x)=x^{2}-2x+2$"
    got = judge_answer(text, "x^2-2x+2")
    assert (got.outcome, got.method, got.answer) == (CORRECT, "conclusion", "x^{2}-2x+2")
    assert got.confidence == 0.7


def test_conclusion_bold_digits():
    text = ("There are 400 numbers in all and 289 of them are perfect-square-free of the kind excluded. "
            "The count we want is $400-289=\\mathbf{1 1 1}$.")
    got = judge_answer(text, "111")
    assert (got.outcome, got.method) == (CORRECT, "conclusion")
    assert judge_answer(text, "289").outcome == UNKNOWN  # inside the computation only


def test_conclusion_first_sentence_answers_the_question():
    text = ("The smallest such $n$ is $n=12$. Indeed $12=3 \\cdot 4$ works, and each of $1, 2, \\ldots, 11$ "
            "fails the condition, as a direct check of the residues shows")
    assert judge_answer(text, "12").outcome == CORRECT
    assert judge_answer(text, "4").outcome == UNKNOWN


def test_conclusion_opening_with_therefore_and_never_inside_a_computation():
    text = ("Each box holds $3+4=7$ balls. Therefore there are $7 \\cdot 2 = 14$ balls in the two boxes. "
            "We check this against the picture, which shows two boxes")
    assert judge_answer(text, "14").outcome == CORRECT
    assert judge_answer(text, "7").outcome == UNKNOWN
    assert judge_answer(text, "3").outcome == UNKNOWN


def test_marked_answers_are_judged_and_undecidable_ones_unknown():
    assert judge_answer("so \\boxed{41}", "42") == judge_answer("so \\boxed{41}", "42")
    assert judge_answer("so \\boxed{41}", "42").outcome == INCORRECT
    assert judge_answer("so \\boxed{42}", "42").outcome == CORRECT
    assert judge_answer("so \\boxed{42}", None).outcome == UNKNOWN
    assert judge_answer("thus $p = 6, \\quad y = -4$. The answer is $p = 6, y = -4$", "6").outcome == UNKNOWN
    assert judge_answer("nothing here", "6") == judge_answer("nothing here", "6")
    assert judge_answer("nothing here", "6").method == "none"


def test_checker_runs_off_the_main_thread():
    results = []

    def work():
        results.append((answers_match("x^{2}-2x+2", "x^2-2x+2"), answers_match("\\frac{1}{2}x", "\\frac{1}{2x}")))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert results == [(True, False)]


# ------------------------------------------------------------------ found on ../shared/data
def test_prm800k_answer_heading_is_a_marker():
    text = "So the sum is $5 + 2 + 0 + 2 = 9$.\n# Answer\n\n9"
    assert (extract_answer(text).answer, extract_answer(text).method) == ("9", "answer_is")
    assert judge_answer(text, "10").outcome == INCORRECT


@pytest.mark.parametrize("text, ref, inside", [
    # GSM8K solutions without their "#### X" line: calculator annotations and dollar amounts
    ("She eats 3 and bakes 4.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.", "18", "9"),
    ("Glasses cost 24 and 40.\nSo in total Kylar needs to pay 24 + 40 = $<<24+40=64>>64 for the glasses.", "64", "40"),
    ("She works overtime.\nThus, Eliza will receive a total of $400 + $60 = $<<400+60=460>>460 for this week's work.",
     "460", "400"),
    ("Each box is $8.50.\nTherefore, Marie ordered $17/$8.50 = <<17/8.5=2>>2 boxes of pizza.", "2", "17"),
    ("There are 20 students.\nThis is 12/20 x 100% = <<12/20*100=60>>60% of the entire students.", "60", "12"),
    ("Raymond's son came later.\nThus it has been 31 - 17 = <<31-17=14>>14 years since Raymond's son was born.", "14", "31"),
    # the result is the leading number of what follows the last "=", words and other numbers after it
    ("Out of the 9 liters, 9 x 2/3 = <<9*2/3=6>>6 liters are water.\nThus, there are a total of 9 + 6 = "
     "<<9+6=15>>15 liters of water out of the 24 liters.", "15", "24"),
    ("So he scored 4+1=<<4+1=5>>5 points in the second 20 minutes\nSo in total, he scored 4+5=<<4+5=9>>9 points "
     "in the 40 minutes", "9", "40"),
    # a concluding sentence with no "=" / "is" and one number states that number
    ("Rose bought 16 items.\nSo, Sophia bought a total of 4 onions and potatoes at the market.", "4", "16"),
])
def test_gsm8k_conclusions_without_the_hash_line(text, ref, inside):
    got = judge_answer(text, ref)
    assert (got.outcome, got.method) == (CORRECT, "conclusion")
    assert judge_answer(text, str(int(ref) + 1)).outcome == UNKNOWN
    assert judge_answer(text, inside).outcome == UNKNOWN  # a value inside the computation


def test_dollar_amounts_do_not_hide_latex():
    text = "We have $5$ apples and $3$ pears.\nHence there are $5 + 3 = 8$ fruits in all"
    assert judge_answer(text, "8").outcome == CORRECT
    assert judge_answer(text, "5").outcome == UNKNOWN


@pytest.mark.parametrize("pred, ref, expected", [
    ("[-2, 7]", "x \\in [-2,7]", True), ("2 * 5! * 5!", "28800", True), ("3.21", "\\frac{270}7\\text{ degrees}", False),
    ("\\frac{270}7\\text{ degrees}", "\\frac{270}{7}", True), ("\\text{Evelyn}", "\\frac{3}{56}", False),
    ("8000", "\\text{even}", False), ("17", "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", False),
    ("10,\\!080", "10080", True), ("five", "5", None),
    # GSM-Plus GPT-4 answers after "####"; its critical-thinking items have the reference "None"
    ("15 liters of water.", "15", True), ("Seth is 16 years old.", "16", True), ("17 good oranges", "17", True),
    ("460.", "None", False),
    # GSM-Plus GPT-4: temperatures and per-period amounts after "####"
    ("-10°F", "-10", True), ("-10^\\circ F", "-10", True), ("30 °C", "30", True), ("-10°F", "10", False),
    ("$25,000/year", "25000", True), ("$1500/month", "1500", True), ("18,000/year", "1800", False),
    # sympy reads sin 80° in radians: undecided, never a verdict (this one is in fact -sqrt(3))
    ("\\frac{\\sin 80^\\circ (-1 + 4 \\cos 80^\\circ)}{\\cos 80^\\circ}", "-\\sqrt{3}", None),
])
def test_shared_data_cases(pred, ref, expected):
    assert compare(pred, ref) is expected


def test_importing_the_checker_loads_no_sympy_nor_pydantic():
    import subprocess
    import sys
    code = ("import sys, annotators.answers as a; a.is_correct('so \\\\boxed{5}', '5'); "
            "print(sorted(m for m in ('sympy', 'math_verify', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_clock_times_never_reach_sympy(monkeypatch):
    compare_module = sys.modules["annotators.answers.compare"]

    def refuse(*args, **kwargs):
        raise AssertionError("sympy was asked about a clock time")

    monkeypatch.setattr(compare_module, "symbolic_equal", refuse)
    assert judge_answer("So she arrives at \\boxed{4:30}.", "4:30").outcome == "correct"
    assert judge_answer("So she arrives at \\boxed{4:30 p.m}.", "5:15").outcome != "correct"


def test_a_concluding_sentence_with_two_numbers_states_neither():
    text = "Tom has 16 stamps.\nSo Tom gave 4 stamps to each of his 3 friends."
    assert judge_answer(text, "4").outcome == UNKNOWN and judge_answer(text, "3").outcome == UNKNOWN
