"""Lifelong monitoring: the follow-up plan (CarePlan), the symptom questionnaire and triage - pure functions."""

from mbcnav.monitoring.plan import FollowUpPlan, build_plan, plan_fhir, plan_json
from mbcnav.monitoring.questionnaire import SymptomReport, questionnaire, read_response
from mbcnav.monitoring.triage import TriageResult, triage, triage_json

__all__ = [
    "FollowUpPlan",
    "SymptomReport",
    "TriageResult",
    "build_plan",
    "plan_fhir",
    "plan_json",
    "questionnaire",
    "read_response",
    "triage",
    "triage_json",
]
