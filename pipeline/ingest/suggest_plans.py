"""Plans for `mapping suggest`, one per family of shapes (see suggest.py for the list):

    chat_plan(records)     chat `messages` / ShareGPT `conversations`
    rl_plan(records)       verl, TRL and OpenRLHF export rows
    flat_plan(records)     question / answer / solution style records (lists, steps, nested solutions)
    folder_plan(files)     per-problem folders: {file name: its sample JSON}

Each returns a suggest_shapes.Plan or None. Tests: `pytest tests/test_mapping_suggest.py`.
"""
from __future__ import annotations

import json
import re

from pipeline.ingest.suggest_shapes import (ANSWER, OUTPUT, QUESTION, SOLUTION, Plan, _think, answer_spec, find, kind,
                                            metadata_for, sampling_for, teacher_spec, values)

_TOOL_ROLES = ("tool", "ipython", "function", "code", "execution", "observation")


def _roles(records: list[dict], key: str, role_key: str) -> list[list[str]]:
    return [[m.get(role_key) for m in r[key] if isinstance(m, dict)] for r in records if isinstance(r.get(key), list)]


def _chat_text(records: list[dict], key: str, role_key: str, assistant: str, extra: dict) -> dict:
    turns = _roles(records, key, role_key)
    tools = sorted({role for t in turns for role in t if role in _TOOL_ROLES})
    several = any(t.count(assistant) > 1 for t in turns)
    if tools or several:
        return {"field": key, "role": [assistant, *tools], "pick": "all", "join": "\n\n", **extra}
    return {"field": key, "role": assistant, "pick": "last", **extra}


def chat_plan(records: list[dict]) -> Plan | None:
    for key, role_key, content_key, shape in (("messages", "role", "content", "chat messages"),
                                              ("conversations", "from", "value", "ShareGPT conversations")):
        if key not in records[0] or kind(values(records, key)) != "chat":
            continue
        roles = {role for t in _roles(records, key, role_key) for role in t}
        if role_key == "role" and not roles and any("from" in m for m in records[0][key]):
            role_key, content_key, shape = "from", "value", "ShareGPT conversations"
            roles = {role for t in _roles(records, key, role_key) for role in t}
        user = "human" if "human" in roles else "user"
        assistant = "gpt" if "gpt" in roles else "assistant"
        extra = {} if role_key == "role" else {"role_key": role_key, "content_key": content_key}
        plan = Plan(shape)
        plan.problem["question"] = {"field": key, "role": user, "pick": "first", **extra}
        plan.guessed.append(f"question <- first {user!r} turn of {key!r}")
        text = _chat_text(records, key, role_key, assistant, extra)
        plan.guessed.append(f"solution <- {'all ' + ' / '.join(text['role']) + ' turns joined' if text['pick'] == 'all' else 'last ' + repr(assistant) + ' turn'}"
                            " (content parts and tool calls kept as text)")
        _answer_or_boxed(records, plan, {"field": key, "role": assistant, "pick": "last", **extra},
                         skip={key}, what=f"the last {assistant!r} turn")
        plan.trajectories.append({"text": text, "teacher": teacher_spec(records, plan)})
        return plan
    return None


def _answer_or_boxed(records: list[dict], plan: Plan, solution: dict | str, *, skip: set[str], what: str) -> None:
    key = find(records, ANSWER, ("str", "num", "bool", "list_str", "list"), skip)
    if key:
        spec, guess = answer_spec(records, key)
        plan.problem["answer"] = spec
        plan.guessed.append(guess)
        return
    spec = {"field": solution, "boxed": True} if isinstance(solution, str) else {**solution, "boxed": True}
    plan.problem["answer"] = spec
    plan.missing.append(f"no answer field: answers will be extracted from \\boxed{{}} in {what}")


def rl_plan(records: list[dict]) -> Plan | None:
    first = records[0]
    prompt_kind = kind(values(records, "prompt"))
    if "prompt" in first and isinstance(first.get("reward_model"), dict):  # verl
        plan = Plan("verl rows")
        plan.problem["question"] = _prompt_question(records, "prompt", plan)
        plan.problem["answer"] = "reward_model.ground_truth"
        plan.guessed.append("answer <- reward_model.ground_truth")
        sources = {r.get("data_source") for r in records}
        if len(sources) == 1 and isinstance(next(iter(sources)), str):
            plan.source = next(iter(sources))
            plan.guessed.append(f"source <- data_source ({plan.source!r})")
        extra = [r.get("extra_info") or {} for r in records]
        if any(isinstance(e, dict) and isinstance(e.get("teacher_completion"), str) for e in extra):
            plan.trajectories.append({"text": "extra_info.teacher_completion", "teacher": {"const": "teacher"}})
            plan.guessed.append("solution <- extra_info.teacher_completion")
        else:
            plan.missing.append("no teacher completion: problems only")
        return plan
    if "prompt" in first and prompt_kind in ("chat", "str") and (
            "completion" in first or "teacher_completion" in first or "solution" in first):  # TRL
        plan = Plan("TRL rows")
        plan.problem["question"] = _prompt_question(records, "prompt", plan)
        text = None
        if "completion" in first:
            text = ({"field": "completion", "role": "assistant", "pick": "last"}
                    if kind(values(records, "completion")) == "chat" else "completion")
        elif "teacher_completion" in first:
            text = "teacher_completion"
        if "solution" in first:
            plan.problem["answer"] = "solution"
            plan.guessed.append("answer <- 'solution' (TRL's name for the reference answer)")
        elif text is not None:
            _answer_or_boxed(records, plan, text, skip={"prompt", "completion"}, what="the completion")
        if text is not None:
            plan.trajectories.append({"text": text, "teacher": teacher_spec(records, plan)})
            plan.guessed.append(f"solution <- {text if isinstance(text, str) else 'last assistant turn of completion'}")
        return plan
    if "input" in first and "label" in first:  # OpenRLHF
        plan = Plan("OpenRLHF rows")
        plan.problem["question"] = _prompt_question(records, "input", plan)
        labels = [v for v in values(records, "label") if isinstance(v, str)]
        if labels and all(_json_answer(v) for v in labels):
            plan.problem["answer"] = "label.answer"
            plan.guessed.append("answer <- label.answer (the label is JSON text)")
        else:
            plan.problem["answer"] = "label"
            plan.guessed.append("answer <- label")
        out = find(records, OUTPUT, ("str",), {"input", "label"})
        if out:
            plan.trajectories.append({"text": out, "teacher": teacher_spec(records, plan)})
        return plan
    return None


def _json_answer(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and "answer" in value


def _prompt_question(records: list[dict], key: str, plan: Plan) -> object:
    if kind(values(records, key)) == "chat":
        plan.guessed.append(f"question <- first 'user' turn of {key!r}")
        return {"field": key, "role": "user", "pick": "first"}
    plan.guessed.append(f"question <- field {key!r}")
    return key


def _question(records: list[dict], plan: Plan, prefix: str = "") -> str | None:
    key = find(records, QUESTION, ("str",))
    if key is None:
        plan.missing.append("no question field (looked for: " + ", ".join(QUESTION) + "): edit [problem] question")
        return None
    context = find(records, ("context", "passage", "background"), ("str",), {key})
    options = find(records, ("options", "choices"), ("list_str", "list", "dict"), {key})
    if context or options:
        parts = [f"{{{prefix}{context}}}"] if context else []
        parts.append(f"{{{prefix}{key}}}" + (f"\n\n{{{prefix}{options}|letters}}" if options else ""))
        plan.problem["question"] = {"template": parts}
        plan.guessed.append(f"question <- template: {' + '.join(filter(None, [context, key, options]))}")
    else:
        plan.problem["question"] = prefix + key
        plan.guessed.append(f"question <- field {prefix + key!r}")
    return key


def _nested(records: list[dict], used: set[str]) -> list[tuple[str, str]]:
    """(object field, text field inside it): solution objects, one trajectory each."""
    out = []
    for key in list(dict.fromkeys(k for r in records for k in r)):
        if key in used or kind(values(records, key)) != "dict":
            continue
        sub = find(values(records, key), SOLUTION + OUTPUT, ("str",))
        if sub:
            out.append((key, sub))
    return out


def flat_plan(records: list[dict], *, prefix: str = "", shape: str = "flat records") -> Plan:
    plan = Plan(shape)
    q = _question(records, plan, prefix)
    used = {q} if q else set()
    trajectories = _trajectories(records, plan, used, prefix)
    a = find(records, ANSWER, ("str", "num", "bool", "list_str", "list"), used)
    if a is not None and not any(t.get("_field") == a for t in trajectories):
        spec, guess = answer_spec(records, a, prefix)
        plan.problem["answer"] = spec
        plan.guessed.append(guess)
        used.add(a)
    elif a is None and not trajectories:
        if find(records, ANSWER, ("str", "num", "bool", "list_str", "list"), set()) is None:
            plan.missing.append("no answer field: problems without a reference answer")
    if not trajectories:
        gsm = find(records, ANSWER, ("str",), used - {a} if a else used)
        if gsm and "after" in (plan.problem.get("answer") or {}):  # the answer field is a worked solution
            trajectories.append({"text": prefix + gsm, "teacher": {"const": "reference"}, "_field": gsm,
                                 "comment": "the answer field holds a worked solution"})
            plan.guessed.append(f"solution <- {prefix + gsm!r} (a worked solution ending in the answer)")
        else:
            plan.missing.append("no solution field: problems only")
    if "answer" not in plan.problem and trajectories:
        t = trajectories[0]
        text = t["text"]
        field = text if isinstance(text, str) else text["field"] + ("[0]" if text.get("each") else "")
        if isinstance(text, str) or text.get("each"):
            plan.problem["answer"] = {"field": field, "boxed": True}
            plan.missing.append("no answer field: answers will be extracted from \\boxed{} in the solution")
        else:
            plan.missing.append("no answer field, and the solution is a step list: no reference answer")
    for name, key in (("perturbation", find(records, ("perturbation", "perturbation_type"), ("str",), used)),
                      ("seed_question", find(records, ("seed_question", "original_question"), ("str",), used)),
                      ("seed_answer", find(records, ("seed_answer", "original_answer"), ("str", "num"), used))):
        if key:
            plan.problem[name] = prefix + key
            plan.guessed.append(f"{name} <- field {prefix + key!r}")
            used.add(key)
    used |= {t.get("_field") for t in trajectories} | {t.get("_teacher") for t in trajectories}
    plan.metadata = metadata_for(records, used | {a}, prefix)
    if plan.metadata:
        plan.guessed.append("metadata <- " + ", ".join(plan.metadata))
    plan.trajectories = [{k: v for k, v in t.items() if not k.startswith("_")} for t in trajectories]
    return plan


def _trajectories(records: list[dict], plan: Plan, used: set[str], prefix: str) -> list[dict]:
    nested = _nested(records, used)
    if nested:
        out = []
        for key, sub in nested:
            inner = values(records, key)
            out.append({"text": f"{prefix}{key}.{sub}", "teacher": {"const": key}, "_field": key,
                        "sampling": sampling_for(inner, {sub}, per_element=None, prefix=f"{prefix}{key}.")})
        plan.guessed.append(f"{len(out)} solutions per record, one per object: " + ", ".join(k for k, _ in nested)
                            + " (teacher = the object's name)")
        return out
    key = find(records, OUTPUT, ("str", "list_str", "list_list"), used) or find(
        records, SOLUTION, ("str", "list_str", "list_list"), used)
    if key is None:
        return []
    k = kind(values(records, key))
    lengths = {len(v) for v in values(records, key) if isinstance(v, list)}
    teacher = teacher_spec(records, plan, prefix)
    if k == "list_list" or (k == "list_str" and "step" in key.lower()):
        text = {"field": prefix + key, "join": "\n"}
        plan.guessed.append(f"solution <- step list {prefix + key!r}, joined with newlines (step offsets kept)")
        sampling = sampling_for(records, used | {key}, per_element=None, prefix=prefix)
    elif k == "list_str":
        text = {"field": prefix + key, "each": True}
        plan.guessed.append(f"solutions <- list {prefix + key!r}, one trajectory per element "
                            f"({'/'.join(map(str, sorted(lengths)))} per record)")
        sampling = sampling_for(records, used | {key}, per_element=1, prefix=prefix)
    else:
        text = prefix + key
        plan.guessed.append(f"solution <- field {prefix + key!r}")
        sampling = sampling_for(records, used | {key} | set(ANSWER), per_element=None, prefix=prefix)
    _think(values(records, key), plan)
    t = {"text": text, "teacher": teacher, "_field": key, "sampling": sampling}
    if isinstance(teacher, dict) and "field" in teacher:
        t["_teacher"] = teacher["field"].removeprefix(prefix)
    return [t]


def folder_plan(files: dict[str, object]) -> Plan:
    """files: {file name: its JSON in one sample folder}; the problem file comes first."""
    objects = {name: v for name, v in files.items() if isinstance(v, dict)}
    alias = {name: re.sub(r"[^A-Za-z0-9_]+", "_", name.rsplit(".", 1)[0]) for name in objects}
    ranked = sorted((QUESTION.index(find([v], QUESTION, ("str",)).lower()), n) for n, v in objects.items()
                    if find([v], QUESTION, ("str",)))
    problem = ranked[0][1] if ranked else None
    solution = next((n for n, v in objects.items() if n != problem and find([v], SOLUTION + OUTPUT, ("str",))), None)
    if problem is None:
        plan = Plan("per-problem folders")
        plan.missing.append("no JSON file in the folders has a question field")
        plan.folder_files = {alias[n]: n for n in objects} or {"record": next(iter(files))}
        plan.problem["question"] = "record.question"
        return plan
    chosen = [problem] + ([solution] if solution else [])
    plan = Plan("per-problem folders")
    plan.folder_files = {alias[n]: n for n in chosen}
    pa = alias[problem] + "."
    q = _question([objects[problem]], plan, pa)
    a = find([objects[problem]], ANSWER, ("str", "num", "bool", "list_str", "list"), {q})
    if a:
        spec, guess = answer_spec([objects[problem]], a, pa)
        plan.problem["answer"] = spec
        plan.guessed.append(guess)
    plan.metadata = {**metadata_for([objects[problem]], {q, a}, pa), "problem_folder": "_name"}
    if solution:
        sa = alias[solution] + "."
        text = find([objects[solution]], SOLUTION + OUTPUT, ("str",))
        sampling = {**sampling_for([objects[solution]], {text}, per_element=None, prefix=sa), "set": "_parent"}
        plan.trajectories.append({"text": sa + text, "teacher": teacher_spec([objects[solution]], plan, sa),
                                  "sampling": sampling})
        plan.guessed.append(f"solution <- {sa + text!r} (file {solution})")
        _think([objects[solution][text]], plan)
    else:
        plan.missing.append("no solution file: problems only")
    plan.guessed.insert(0, f"one record per folder: {', '.join(chosen)}")
    return plan
