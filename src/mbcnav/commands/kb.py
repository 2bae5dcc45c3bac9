"""`mbcnav kb lint | show [ID] | docs`: review the knowledge base."""

from __future__ import annotations

import argparse
import sys

from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, EXIT_UNUSABLE


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kb = sub.add_parser("kb", help="review the knowledge base: lint, show, docs", epilog=EXIT_CODES_HELP)
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, help="what to do with the knowledge base")
    kb_sub.add_parser(
        "lint",
        help="schema, dangling references, uncited options, unknown facts (exit 2 when a problem is found)",
        epilog=EXIT_CODES_HELP,
    )
    show = kb_sub.add_parser(
        "show", help="an option (or all) in readable form with its evidence", epilog=EXIT_CODES_HELP
    )
    show.add_argument("option_id", nargs="?", metavar="ID", help="option id (default: list all options)")
    kb_sub.add_parser("docs", help="print docs/knowledge.md (Markdown) for clinician review", epilog=EXIT_CODES_HELP)


def run(args: argparse.Namespace) -> int:
    from mbcnav.assess.facts import FACTS, is_known_fact
    from mbcnav.knowledge.kb import knowledge_base, lint, load_unchecked
    from mbcnav.render.knowledge import knowledge_markdown, option_markdown

    if args.kb_command == "lint":
        from mbcnav.knowledge import interactions

        kb = load_unchecked()
        problems = lint(kb, is_known_fact)
        problems += [f"interactions.yaml: {p}" for p in interactions.lint(interactions.load_unchecked(), kb.evidence,
                                                                          is_known_fact)]  # fmt: skip
        for p in problems:
            print(f"kb: {p}")
        n = len(kb.options["options"])
        print(
            f"knowledge base {kb.version}: {n} options, {len(kb.trials)} trials, {len(kb.guidelines)} guidelines, "
            f"{len(problems)} problem(s)"
        )
        return EXIT_UNUSABLE if problems else EXIT_OK
    kb = knowledge_base()
    if args.kb_command == "show":
        if args.option_id:
            opt = kb.option(args.option_id)
            if opt is None:
                print(f"mbcnav: no option {args.option_id!r}; `mbcnav kb show` lists them", file=sys.stderr)
                return EXIT_UNUSABLE
            print(option_markdown(kb, opt))
        else:
            for opt in kb.options["options"]:
                print(f"{opt['id']:45s} {opt['tier']:12s} {opt['title']}")
        return EXIT_OK
    print(knowledge_markdown(kb, FACTS))
    return EXIT_OK
