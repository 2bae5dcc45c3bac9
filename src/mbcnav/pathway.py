"""One pathway for every face (command line, API, web page): record -> assessment, response, options, trials.

The CLI and the service both call `evaluate`, so a patient is evaluated the same way wherever she is seen; the
renderers (mbcnav.render) and the JSON contracts read the objects it returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mbcnav.assess import Assessment, assess
from mbcnav.assess.config import AssessmentConfig
from mbcnav.assess.therapy import Line
from mbcnav.dates import PartialDate
from mbcnav.record.model import DiseaseStatus, Record, Source
from mbcnav.response.engine import ResponseReport, evaluate_response
from mbcnav.response.recist import ResponseConfig

if TYPE_CHECKING:
    from mbcnav.options.engine import OptionsResult
    from mbcnav.trials.criteria import Criterion
    from mbcnav.trials.match import MatchReport
    from mbcnav.trials.records import Trial

# Option categories that are not a line of systemic therapy: when only these remain, standard options are exhausted
# (the trial report then shows expanded-access routes first).
NON_SYSTEMIC_CATEGORIES = frozenset({"supportive", "bone_health", "radiotherapy", "surgery"})


def assess_with_response(
    record: Record,
    *,
    as_of: date | None = None,
    config: AssessmentConfig | None = None,
    response_config: ResponseConfig | None = None,
    baseline: date | None = None,
) -> tuple[Assessment, ResponseReport]:
    """Assessment whose lines also know RECIST progression: a PD found by the engine counts as documented
    progression for the line-of-therapy rules (and so for resistance and exposure facts)."""
    first = assess(record, as_of=as_of, config=config)
    report = evaluate_response(record, first.lines, response_config, baseline)
    known = {s.date.earliest for s in record.disease_statuses if s.date and s.status == "progression"}
    extra = tuple(
        DiseaseStatus(
            PartialDate.of(r.progression_date),
            "progression",
            Source(f"RECIST/line-{r.line}", f"RECIST 1.1 PD on line {r.line}"),
        )
        for r in report.lines
        if r.progression_date is not None and r.progression_date not in known
    )
    if not extra:
        return first, report
    enriched = dataclasses.replace(record, disease_statuses=record.disease_statuses + extra)
    second = assess(enriched, as_of=as_of, config=config)
    return second, evaluate_response(enriched, second.lines, response_config, baseline)


class Evaluation:
    """One patient evaluated as of a date: the assessment and response at once, options when first asked for."""

    def __init__(
        self,
        record: Record,
        *,
        as_of: date | None = None,
        config: AssessmentConfig | None = None,
        response_config: ResponseConfig | None = None,
        baseline: date | None = None,
        visceral_crisis: bool | None = None,
    ) -> None:
        self.record = record
        self.as_of = as_of or date.today()
        self.visceral_crisis = visceral_crisis
        self.assessment, self.response = assess_with_response(
            record, as_of=self.as_of, config=config, response_config=response_config, baseline=baseline
        )

    @property
    def lines(self) -> tuple[Line, ...]:
        return self.assessment.lines

    @cached_property
    def options(self) -> OptionsResult:
        from mbcnav.options import recommend

        return recommend(self.assessment, visceral_crisis=self.visceral_crisis)

    @property
    def standard_options_exhausted(self) -> bool:
        """No line of systemic therapy is offered above 'consider' (only supportive or local care is left), and the
        patient is not on a line that is still working: a patient stable on her current line is offered no new line,
        which does not mean her options have run out."""
        if self._on_working_line():
            return False
        return not any(o.category not in NON_SYSTEMIC_CATEGORIES and o.tier != "consider" for o in self.options.offered)

    def _on_working_line(self) -> bool:
        """The latest line is ongoing and no progression is recorded since it started."""
        if not self.lines or not self.lines[-1].ongoing:
            return False
        start = self.lines[-1].start
        progressions = [s.date for s in self.record.disease_statuses if s.status == "progression" and s.date]
        if start is None:
            return not progressions
        return not any(d.latest >= start.earliest for d in progressions)

    # ---- the JSON contracts (docs/*.md): the same document for `--format json` and the API ----------------------
    def assessment_json(self) -> dict[str, Any]:
        return self.assessment.to_json()

    def response_json(self) -> dict[str, Any]:
        return self.response.as_json()

    def options_json(self) -> dict[str, Any]:
        return self.options.as_json(self.assessment)

    def match_trials(
        self, trials: Iterable[tuple[Trial, list[Criterion]]], *, top: int = 20, include_ineligible: bool = False
    ) -> MatchReport:
        """Rank the given studies (with their parsed criteria) for this patient."""
        from mbcnav.trials.compassionate import compassionate_use
        from mbcnav.trials.match import match_patient

        report = match_patient(
            self.assessment,
            trials,
            top=top,
            include_ineligible=include_ineligible,
            options_exhausted=self.standard_options_exhausted,
        )
        # when the options run out or no recruiting study fits: expanded access and the paperwork routes
        report.compassionate = compassionate_use(
            report, [], options_exhausted=self.standard_options_exhausted, today=self.as_of
        )
        return report


def evaluate(
    record: Record,
    *,
    as_of: date | None = None,
    config: AssessmentConfig | None = None,
    response_config: ResponseConfig | None = None,
    baseline: date | None = None,
    visceral_crisis: bool | None = None,
) -> Evaluation:
    """Evaluate one patient's record as of a date (default today): the one entry point of every face."""
    return Evaluation(
        record,
        as_of=as_of,
        config=config,
        response_config=response_config,
        baseline=baseline,
        visceral_crisis=visceral_crisis,
    )


__all__ = ["NON_SYSTEMIC_CATEGORIES", "Evaluation", "assess_with_response", "evaluate"]
