"""The symptom questionnaire (FHIR R4 Questionnaire) and how a QuestionnaireResponse is read, by linkId or by code."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mbcnav.knowledge.kb import triage_kb
from mbcnav.knowledge.model import TriageQuestion
from mbcnav.record.inputs import UnusableInput
from mbcnav.record.model import InputIssue
from mbcnav.terminology.codes import LOINC, MBCNAV_CS, SNOMED, UCUM

QUESTIONNAIRE_URL = "https://mbcnav.org/fhir/Questionnaire/mbc-symptoms"
ITEM_CS = f"{MBCNAV_CS}/symptom-item"
ANSWER_CS = f"{MBCNAV_CS}/symptom-answer"
YESNO_CS = "http://terminology.hl7.org/CodeSystem/v2-0136"
# SNOMED CT severity qualifiers, meaning checked in public terminology files (docs/monitoring.md).
SEVERITY_SNOMED = {"mild": ("255604002", "Mild"), "moderate": ("6736007", "Moderate"), "severe": ("24484000", "Severe")}
SEVERITY_DISPLAY = {"none": "None", "mild": "Mild", "moderate": "Moderate", "severe": "Severe"}


@dataclass(frozen=True, slots=True)
class SymptomReport:
    """What the patient answered: per question a value (none/mild/moderate/severe, yes/no, or °C), unanswered absent."""

    answers: dict[str, str | float]
    authored: str | None = None
    source: str = "QuestionnaireResponse"
    unread: tuple[str, ...] = field(default=())  # items of the response that are not questions of ours

    def get(self, link_id: str) -> str | float | None:
        return self.answers.get(link_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "answers": dict(self.answers),
            "authored": self.authored,
            "source": self.source,
            "unread": list(self.unread),
        }


def _item_codes(q: TriageQuestion) -> list[dict[str, str]]:
    codes = [{"system": ITEM_CS, "code": q.link_id, "display": q.text}]
    if q.snomed:
        codes.append({"system": SNOMED, "code": q.snomed, "display": q.snomed_display or ""})
    if q.loinc:
        codes.append({"system": LOINC, "code": q.loinc, "display": q.loinc_display or ""})
    return codes


def _answer_options(q: TriageQuestion) -> list[dict[str, Any]]:
    if q.type == "yesno":
        return [
            {"valueCoding": {"system": YESNO_CS, "code": "Y", "display": "Yes"}},
            {"valueCoding": {"system": YESNO_CS, "code": "N", "display": "No"}},
        ]
    out = [{"valueCoding": {"system": ANSWER_CS, "code": "none", "display": "None"}}]
    out += [{"valueCoding": {"system": SNOMED, "code": c, "display": d}} for c, d in SEVERITY_SNOMED.values()]
    return out


def questionnaire() -> dict[str, Any]:
    """The FHIR R4 Questionnaire: mbcnav's own plain-language items (not PRO-CTCAE), each coded, linkIds stable."""
    tri = triage_kb()
    items: list[dict[str, Any]] = []
    for q in tri.questions:
        item: dict[str, Any] = {"linkId": q.link_id, "code": _item_codes(q), "text": q.text, "required": False}
        if q.type == "temperature":
            item["type"] = "decimal"
            item["extension"] = [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
                    "valueCoding": {"system": UCUM, "code": "Cel", "display": "°C"},
                }
            ]
        else:
            item["type"] = "choice"
            item["answerOption"] = _answer_options(q)
        items.append(item)
    return {
        "resourceType": "Questionnaire",
        "id": "mbc-symptoms",
        "url": QUESTIONNAIRE_URL,
        "version": tri.version,
        "name": "MbcSymptoms",
        "title": "How are you feeling? (metastatic breast cancer symptom check)",
        "status": "active",
        "subjectType": ["Patient"],
        "date": tri.reviewed,
        "publisher": "mbcnav",
        "description": (
            "Plain-language symptom questions written for mbcnav (not PRO-CTCAE). Answers are triaged by the cited "
            "rules of triage.yaml (docs/monitoring.md). Leave a question empty if you are not sure: an unanswered "
            "red-flag question leads to a call from your team."
        ),
        "item": items,
    }


# ---- reading a QuestionnaireResponse ------------------------------------------------------------------------------
def _codes_of(q: TriageQuestion) -> set[str]:
    return {c["code"] for c in _item_codes(q)} | {f"{c['system']}|{c['code']}" for c in _item_codes(q)}


def _fail(problems: list[InputIssue], message: str) -> UnusableInput:
    return UnusableInput(message, problems)


def _contained_codes(resp: dict[str, Any], where: str, problems: list[InputIssue]) -> dict[str, set[str]]:
    """linkId -> item codes of a Questionnaire contained in the response (another system's own questionnaire)."""
    out: dict[str, set[str]] = {}
    contained = resp.get("contained", [])
    if not isinstance(contained, list):
        problems.append(InputIssue(f"{where}.contained", "must be a list of resources", "error"))
        return out

    def walk(items: Any) -> None:
        for it in items if isinstance(items, list) else []:
            if not isinstance(it, dict):
                continue
            codes: set[str] = set()
            for c in it.get("code", []) if isinstance(it.get("code"), list) else []:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    codes.add(c["code"])
                    if isinstance(c.get("system"), str):
                        codes.add(f"{c['system']}|{c['code']}")
            if isinstance(it.get("linkId"), str) and codes:
                out[it["linkId"]] = codes
            walk(it.get("item"))

    for res in contained:
        if isinstance(res, dict) and res.get("resourceType") == "Questionnaire":
            walk(res.get("item"))
    return out


def _match(
    link_id: str, definition: Any, contained: dict[str, set[str]], tri_questions: list[TriageQuestion]
) -> TriageQuestion | None:
    """Our question for a response item: by our linkId, else by a code (the contained Questionnaire's item codes, a
    linkId that is a code, or a definition ending in '#code' or '|code')."""
    for q in tri_questions:
        if q.link_id == link_id:
            return q
    codes = set(contained.get(link_id, set())) | {link_id}
    if isinstance(definition, str):
        for sep in ("#", "|"):
            if sep in definition:
                codes.add(definition.rsplit(sep, 1)[1])
                codes.add(definition.replace("#", "|"))
    for q in tri_questions:
        mine = _codes_of(q) - {q.link_id}
        if codes & mine:
            return q
    return None


def _severity(coding: dict[str, Any]) -> str | None:
    code, system = coding.get("code"), coding.get("system")
    if system in (ANSWER_CS, None) and code in SEVERITY_DISPLAY:
        return str(code)
    if system in (SNOMED, None):
        for name, (c, _) in SEVERITY_SNOMED.items():
            if code == c:
                return name
    display = str(coding.get("display", "")).strip().lower()
    return display if display in SEVERITY_DISPLAY and system is None else None


def _yesno(coding: dict[str, Any]) -> str | None:
    code = str(coding.get("code", "")).strip().upper()
    if coding.get("system") in (YESNO_CS, None, ANSWER_CS) and code in ("Y", "YES", "N", "NO"):
        return "yes" if code.startswith("Y") else "no"
    return None


def _value(q: TriageQuestion, answer: Any, where: str, problems: list[InputIssue]) -> str | float | None:
    if not isinstance(answer, dict):
        problems.append(InputIssue(where, "an answer must be an object with one value[x]", "error"))
        return None
    values = {k: v for k, v in answer.items() if k.startswith("value")}
    if len(values) != 1:
        problems.append(InputIssue(where, f"an answer needs exactly one value[x], found {len(values)}", "error"))
        return None
    kind, v = next(iter(values.items()))
    if q.type == "temperature":
        number: Any = None
        unit = "Cel"
        if kind in ("valueDecimal", "valueInteger") and not isinstance(v, bool):
            number = v
        elif kind == "valueQuantity" and isinstance(v, dict):
            number, unit = v.get("value"), str(v.get("code") or v.get("unit") or "Cel")
        if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(float(number)):
            problems.append(InputIssue(where, f"{q.link_id}: expected a temperature number, got {kind}", "error"))
            return None
        celsius = float(number)
        if unit in ("[degF]", "°F", "degF", "F"):
            celsius = (celsius - 32) * 5 / 9
        elif unit not in ("Cel", "°C", "C", "degC"):
            problems.append(
                InputIssue(where, f"{q.link_id}: unknown temperature unit {unit!r} (Cel or [degF])", "error")
            )
            return None
        if not 25.0 <= celsius <= 45.0:
            problems.append(InputIssue(where, f"{q.link_id}: {number} {unit} is not a body temperature", "error"))
            return None
        return round(celsius, 1)
    if q.type == "yesno" and kind == "valueBoolean" and isinstance(v, bool):
        return "yes" if v else "no"
    if kind == "valueCoding" and isinstance(v, dict):
        got = _yesno(v) if q.type == "yesno" else _severity(v)
        if got is not None:
            return got
        problems.append(
            InputIssue(
                where, f"{q.link_id}: answer {v.get('system')}|{v.get('code')} is not one of its options", "error"
            )
        )
        return None
    if kind == "valueString" and isinstance(v, str):
        text = v.strip().lower()
        allowed = ("yes", "no") if q.type == "yesno" else tuple(SEVERITY_DISPLAY)
        if text in allowed:
            return text
    problems.append(InputIssue(where, f"{q.link_id}: {kind} is not a valid answer to a {q.type} question", "error"))
    return None


def read_response(resource: Any, where: str = "QuestionnaireResponse") -> SymptomReport:
    """A QuestionnaireResponse (parsed JSON) as a SymptomReport; UnusableInput (with each problem and its location)
    when it is not a usable response. Items are matched by our linkId, or by code for another system's questions."""
    problems: list[InputIssue] = []
    if not isinstance(resource, dict) or resource.get("resourceType") != "QuestionnaireResponse":
        got = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        raise _fail(
            [InputIssue(where, f"expected a QuestionnaireResponse, got {got!r}", "error")],
            f"{where}: not a QuestionnaireResponse",
        )
    status = resource.get("status")
    if status not in ("in-progress", "completed", "amended", "entered-in-error", "stopped"):
        problems.append(InputIssue(f"{where}.status", f"missing or invalid status {status!r}", "error"))
    elif status in ("entered-in-error", "stopped"):
        problems.append(InputIssue(f"{where}.status", f"a response with status {status!r} cannot be triaged", "error"))
    authored = resource.get("authored")
    if authored is not None:
        try:
            if not isinstance(authored, str):
                raise ValueError
            date.fromisoformat(authored[:10])
        except ValueError:
            problems.append(InputIssue(f"{where}.authored", f"not a date: {authored!r}", "error"))
            authored = None
    contained = _contained_codes(resource, where, problems)
    tri = triage_kb()
    answers: dict[str, str | float] = {}
    unread: list[str] = []
    items = resource.get("item", [])
    if not isinstance(items, list):
        problems.append(InputIssue(f"{where}.item", "must be a list", "error"))
        items = []

    def walk(items: list[Any], path: str) -> None:
        for i, it in enumerate(items):
            loc = f"{path}.item[{i}]"
            if not isinstance(it, dict):
                problems.append(InputIssue(loc, "an item must be an object", "error"))
                continue
            link_id = it.get("linkId")
            if not isinstance(link_id, str) or not link_id.strip():
                problems.append(InputIssue(f"{loc}.linkId", "missing linkId", "error"))
                continue
            children = it.get("item", [])
            if isinstance(children, list) and children:
                walk(children, loc)
            q = _match(link_id, it.get("definition"), contained, tri.questions)
            answer_list = it.get("answer", [])
            if not isinstance(answer_list, list):
                problems.append(InputIssue(f"{loc}.answer", "must be a list", "error"))
                continue
            if q is None:
                if answer_list:
                    unread.append(link_id)
                continue
            if len(answer_list) > 1:
                problems.append(
                    InputIssue(f"{loc}.answer", f"{q.link_id}: one answer expected, found {len(answer_list)}", "error")
                )
                continue
            if not answer_list:
                continue
            value = _value(q, answer_list[0], f"{loc}.answer[0]", problems)
            if value is None:
                continue
            if q.link_id in answers and answers[q.link_id] != value:
                problems.append(InputIssue(loc, f"{q.link_id}: answered twice with different values", "error"))
                continue
            answers[q.link_id] = value

    walk(items, where)
    if problems:
        raise _fail(problems, f"{where}: the QuestionnaireResponse cannot be used ({len(problems)} problem(s))")
    return SymptomReport(answers, authored if isinstance(authored, str) else None, where, tuple(unread))


__all__ = ["QUESTIONNAIRE_URL", "SymptomReport", "questionnaire", "read_response"]
