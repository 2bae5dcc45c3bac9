"""The symptom Questionnaire (FHIR R4) and reading QuestionnaireResponses by linkId and by code."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from mbcnav.knowledge.kb import triage_kb
from mbcnav.monitoring.questionnaire import ANSWER_CS, ITEM_CS, YESNO_CS, questionnaire, read_response
from mbcnav.record.inputs import UnusableInput

# linkIds are a contract with other systems: changing one breaks stored responses.
LINK_IDS = [
    "temperature",
    "feverish",
    "breathless",
    "cough",
    "chest-pain",
    "headache",
    "vomiting",
    "nausea",
    "confusion",
    "seizure",
    "back-pain",
    "back-pain-new",
    "limb-weakness",
    "numbness",
    "bladder-bowel",
    "bone-pain",
    "diarrhoea",
    "mouth-sores",
    "leg-swelling",
    "bleeding",
    "thirst",
    "rash",
    "new-lump",
]
# SNOMED CT codes whose meaning was checked (docs/monitoring.md); items without a checked code carry only mbcnav's.
SNOMED = {
    "feverish": "43724002",
    "breathless": "267036007",
    "cough": "49727002",
    "chest-pain": "29857009",
    "headache": "25064002",
    "vomiting": "422400008",
    "nausea": "422587007",
    "confusion": "40917007",
    "seizure": "91175000",
    "back-pain": "161891005",
    "numbness": "44077006",
    "bone-pain": "12584003",
    "diarrhoea": "62315008",
    "bleeding": "131148009",
    "thirst": "17173007",
}


def qr(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items, **extra}


def sev(code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": ANSWER_CS, "code": code}}


def test_questionnaire_validates_and_every_item_is_coded() -> None:
    q = questionnaire()
    Questionnaire.model_validate(q)
    assert [i["linkId"] for i in q["item"]] == LINK_IDS
    for item in q["item"]:
        systems = {c["system"]: c["code"] for c in item["code"]}
        assert systems[ITEM_CS] == item["linkId"]
        assert systems.get("http://snomed.info/sct") == SNOMED.get(item["linkId"])
        assert item["type"] in ("choice", "decimal")
        if item["type"] == "choice":
            assert item["answerOption"]
    temp = q["item"][0]
    assert {"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"} in temp["code"]


def test_questionnaire_is_not_pro_ctcae() -> None:
    text = " ".join(i["text"] for i in questionnaire()["item"])
    assert "PRO-CTCAE" not in text
    assert "not PRO-CTCAE" in questionnaire()["description"]


def test_read_by_link_id() -> None:
    r = qr(
        [
            {"linkId": "breathless", "answer": [sev("moderate")]},
            {"linkId": "confusion", "answer": [{"valueCoding": {"system": YESNO_CS, "code": "N"}}]},
            {"linkId": "temperature", "answer": [{"valueDecimal": 38.4}]},
            {"linkId": "cough", "answer": []},
        ]
    )
    QuestionnaireResponse.model_validate(r)
    report = read_response(r)
    assert report.answers == {"breathless": "moderate", "confusion": "no", "temperature": 38.4}
    assert report.get("cough") is None  # unanswered stays unknown


def test_read_by_code_forms() -> None:
    r = qr(
        [
            {
                "linkId": "267036007",
                "answer": [{"valueCoding": {"system": "http://snomed.info/sct", "code": "24484000"}}],
            },
            {
                "linkId": "x-headache",
                "definition": "http://snomed.info/sct#25064002",
                "answer": [{"valueString": "Mild"}],
            },
            {
                "linkId": "body-temp",
                "definition": "http://loinc.org|8310-5",
                "answer": [{"valueQuantity": {"value": 101.3, "code": "[degF]"}}],
            },
            {"linkId": "their-own-thing", "answer": [{"valueString": "fine"}]},
        ]
    )
    report = read_response(r)
    assert report.answers == {"breathless": "severe", "headache": "mild", "temperature": 38.5}
    assert report.unread == ("their-own-thing",)


def test_read_by_code_through_a_contained_questionnaire() -> None:
    theirs = {
        "resourceType": "Questionnaire",
        "id": "q",
        "status": "active",
        "item": [
            {
                "linkId": "1",
                "type": "group",
                "item": [
                    {
                        "linkId": "1.1",
                        "type": "boolean",
                        "code": [{"system": "http://snomed.info/sct", "code": "91175000"}],
                    },
                    {"linkId": "1.2", "type": "choice", "code": [{"system": ITEM_CS, "code": "limb-weakness"}]},
                ],
            },
        ],
    }
    r = qr(
        [
            {
                "linkId": "1",
                "item": [
                    {"linkId": "1.1", "answer": [{"valueBoolean": True}]},
                    {"linkId": "1.2", "answer": [{"valueBoolean": False}]},
                ],
            }
        ],
        contained=[theirs],
        questionnaire="#q",
    )
    QuestionnaireResponse.model_validate(r)
    assert read_response(r).answers == {"seizure": "yes", "limb-weakness": "no"}


MALFORMED: list[tuple[str, Any, str]] = [
    ("not a response", {"resourceType": "Observation"}, "expected a QuestionnaireResponse"),
    ("not an object", [1, 2], "expected a QuestionnaireResponse"),
    ("no status", {"resourceType": "QuestionnaireResponse", "item": []}, ".status"),
    ("entered in error", qr([], status="entered-in-error"), "cannot be triaged"),
    ("items not a list", qr({"linkId": "cough"}), ".item"),  # type: ignore[arg-type]
    ("item without linkId", qr([{"answer": [sev("mild")]}]), "missing linkId"),
    ("two answers", qr([{"linkId": "cough", "answer": [sev("mild"), sev("severe")]}]), "one answer expected"),
    ("answer not an option", qr([{"linkId": "cough", "answer": [sev("terrible")]}]), "not one of its options"),
    (
        "two value[x]",
        qr([{"linkId": "cough", "answer": [{"valueString": "mild", "valueBoolean": True}]}]),
        "exactly one",
    ),
    ("temperature as text", qr([{"linkId": "temperature", "answer": [{"valueString": "hot"}]}]), "temperature number"),
    ("absurd temperature", qr([{"linkId": "temperature", "answer": [{"valueDecimal": 80}]}]), "not a body temperature"),
    (
        "unknown unit",
        qr([{"linkId": "temperature", "answer": [{"valueQuantity": {"value": 300, "code": "K"}}]}]),
        "unit",
    ),
    ("yes/no given a severity", qr([{"linkId": "seizure", "answer": [sev("mild")]}]), "not one of its options"),
    (
        "contradiction",
        qr([{"linkId": "cough", "answer": [sev("mild")]}, {"linkId": "49727002", "answer": [sev("severe")]}]),
        "answered twice",
    ),
    ("bad authored", qr([], authored="yesterday"), ".authored"),
]


@pytest.mark.parametrize(("name", "resource", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_responses_are_refused_with_where(name: str, resource: Any, message: str) -> None:
    with pytest.raises(UnusableInput) as err:
        read_response(copy.deepcopy(resource), where="r.json")
    text = err.value.message + " " + " ".join(f"{p.location}: {p.message}" for p in err.value.problems)
    assert message in text, text
    assert "r.json" in text


def test_every_red_flag_question_is_a_yes_no_or_severity_item() -> None:
    for q in triage_kb().questions:
        if q.red_flag:
            assert q.type in ("yesno", "severity")
