"""Phrase banks of the procedural teacher: several phrasings per strategy, some with the
usual cue words and some paraphrases a keyword matcher misses, plus "bait" sentences
that contain cue-like words but are no strategy at all (they stay unlabelled).

Templates are `str.format` strings; the teacher (pipeline/sample/teacher.py) fills them.
Fields: goal/Goal (noun phrase, capitalised), expr, val, i, list, a, b (plan halves),
f/F (a fact), need, g (a trial), o (its outcome), split, cond, check/Check, wrong, right.
"""

PLAN = (
    "My plan is to {a}, then {b}.",
    "The approach is to {a} and then {b}.",
    "I'll first {a}, then {b}.",
    "Here's how I'll do it: {a}, and after that {b}.",
    "Outline: {a}; after that, {b}.",
    "The route to the answer: {a}, and finally {b}.",
    "Rather than diving into numbers, I want to {a} and then {b}.",
    "To solve this, I'll {a} and then {b}.",
    "Two moves get there: {a}, then {b}.",
    "Strategy: {a}, then {b}.",
)

DECOMP_LIST = (
    "Let's break this into parts: {list}.",
    "Sub-goals: {list}.",
    "The pieces to work out along the way are {list}.",
    "Splitting the work up: {list}, in that order.",
    "Intermediate results to get first: {list}.",
    "This comes apart into smaller questions: {list}.",
)
DECOMP_FIRST = (
    "First, find {goal}: {expr} = {val}.",
    "Step 1: {goal}. {expr} = {val}.",
    "Start with a smaller target, {goal}: {expr} = {val}.",
    "The first piece to pin down is {goal}: {expr} = {val}.",
)
DECOMP_NEXT = (
    "Next, we need {goal}: {expr} = {val}.",
    "Step {i}: {goal}. {expr} = {val}.",
    "The next intermediate quantity is {goal}: {expr} = {val}.",
    "Now for the next piece, {goal}: {expr} = {val}.",
    "Another sub-goal is {goal}: {expr} = {val}.",
)

CALC = (
    "{Goal} is {expr} = {val}.",
    "{expr} = {val}, so {goal} is {val}.",
    "That makes {goal} equal to {expr} = {val}.",
    "So {goal} comes to {expr} = {val}.",
    "For {goal}: {expr} = {val}.",
    "{Goal}: {expr} = {val}.",
)

RECALL = (
    "Recall that {f}.",
    "We know that {f}.",
    "Remember that {f}.",
    "{F}.",
    "A basic fact helps here: {f}.",
    "The key fact: {f}.",
    "From the definitions, {f}.",
    "It is a standard fact that {f}.",
    "Useful to keep in mind: {f}.",
)

BACKWARD = (
    "Working backwards: to get {goal}, we need {need}.",
    "To find {goal}, we need {need}.",
    "{Goal} depends on {need}, so that has to come first.",
    "The goal is {goal}, which requires {need}.",
    "Starting from what is asked, {goal}, the thing to know first is {need}.",
    "What's asked is {goal}; for that I must have {need}.",
    "Reasoning from the question back: {goal} can be read off once {need} is known.",
)

EXPLORE_INTRO = (
    "Before anything exact, some trial values.",
    "A quick experiment first.",
    "Let's try a few numbers to get a feel for it.",
    "Guess and check gives a feel for the size of the answer.",
)
EXPLORE = (
    "Let's try {g}: {o}.",
    "Try {g}: {o}.",
    "What about {g}? Then {o}.",
    "Testing {g}: {o}.",
    "As an experiment, take {g}: {o}.",
    "With {g}, {o}.",
    "Consider {g} for a moment: {o}.",
)
EXPLORE_AFTER = ("Now the exact computation.", "To pin it down exactly:", "Time to do it properly.", "")

CASE_INTRO = (
    "Consider two cases, depending on {split}.",
    "There are two possibilities for {split}.",
    "Split by {split}.",
    "It depends on {split}, so I'll handle the options one at a time.",
    "The count changes with {split}, so count each situation separately.",
)
CASE = (
    "Case {i}: {cond}. Then {expr} = {val}.",
    "If {cond}: {expr} = {val}.",
    "When {cond}, the count is {expr} = {val}.",
    "In the situation where {cond}, {expr} = {val}.",
    "Option {i}, {cond}: {expr} = {val}.",
)

VERIFY = (
    "Let me check: {check}.",
    "Double-check: {check}.",
    "Plugging back in: {check}, which matches.",
    "Going over it another way, {check}, so it holds up.",
    "Quick test of the result: {check}. Good.",
    "As a cross-check, {check}.",
    "Re-deriving it independently: {check}, the same as before.",
    "Does it fit the problem? {Check}, so yes.",
)
VERIFY_FAIL = (
    "Let me check: {check}, which does not agree with {wrong}.",
    "Checking another way: {check}. That is not {wrong}.",
    "A cross-check gives {check}, so {wrong} cannot be right.",
)

BACKTRACK = (
    "Wait, {expr} is {right}, not {wrong}.",
    "Hmm, that's wrong: {expr} = {right}.",
    "Oops, I slipped: {expr} gives {right}, not {wrong}.",
    "That can't be right; redoing it, {expr} = {right}.",
    "Hold on, {expr} = {right}; I wrote {wrong} by mistake.",
    "Let me redo that: {expr} = {right}.",
    "Scratch that, {expr} = {right}.",
    "No, {wrong} is off: {expr} = {right}.",
    "I slipped on the arithmetic there. Correcting it: {expr} = {right}.",
    "Looking again, {wrong} was a slip; {expr} is really {right}.",
)
BACKTRACK_AFTER_CHECK = (
    "So the last step was off; redoing it, {expr} = {right}.",
    "I must have slipped earlier: {expr} = {right}.",
    "Going back to fix it: {expr} = {right}.",
)

# Unlabelled: cue-like words, no strategy.
BAIT = (
    "There is no need to wait for more information: everything is given.",
    "No guess is needed for the inputs; every value is stated in the problem.",
    "Perhaps the only tricky part is reading the problem carefully.",
    "Indeed, all the numbers needed are in the question.",
    "Actually, this is a familiar kind of word problem.",
    "A common mistake here is to skip one of the parts.",
    "Let's see what is given.",
    "Let me check what the question asks for: {goal}.",
    "Recall that the problem wants a single number.",
    "No need to ask what if the values changed; they are fixed.",
    "The numbers are small, so the arithmetic is quick.",
    "Alternatively phrased, the question wants {goal}.",
    "We need nothing beyond the numbers in the question.",
    "Step 1 of any word problem is reading it closely, and that is done.",
)
IGNORE = (
    "The sentence \"{d}\" plays no part in the answer.",
    "I'll ignore \"{d}\", since it has nothing to do with the question.",
    "One detail is irrelevant: \"{d}\"",
)
OPEN = ("The question asks for {goal}.", "We want {goal}.", "")
CLOSE = ("So {goal} is {val}.", "Therefore {goal} is {val}.", "That gives {val}.", "")
ANSWER = ("The answer is \\boxed{{{x}}}.", "Final answer: \\boxed{{{x}}}", "So the answer is \\boxed{{{x}}}.",
          "**Answer:** \\boxed{{{x}}}")
