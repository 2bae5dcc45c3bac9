"""How every command ends and reads its PATH: exit codes, FHIR OperationOutcome, user errors, output errors.

Exit codes (the same for every command): 0 done; 1 done, but some records or files were skipped (each listed);
2 unusable input or a user error (an input that cannot be read or
used, an output that cannot be written, an unknown option value); 70 an internal error (a defect in mbcnav);
130 interrupted. This module never imports a command (mbcnav.cli, mbcnav.commands), so every command (and the
service) can use it.

A PATH that is a folder means the same to every command: the files in it (``.json``, ``.ndjson``, ``.yaml``,
``.yml``) read together. When they hold one patient (or loose resources of one patient) the folder is that
patient. When they hold several patients, `assess`, `options` and `trials match` need ``--patient ID`` (the files
of that patient are read), and `response` reads the folder as a cohort: one report per patient, and a file that
cannot be read is reported and skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Protocol

from mbcnav.record.model import InputIssue, Record
from mbcnav.record.reader import Located, UnusableInput, load_resources

EXIT_OK = 0
EXIT_PARTIAL = 1  # done, but some records or files were skipped (each listed): trials load / sync, a response cohort
EXIT_UNUSABLE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 done, but some records or files were skipped (listed; trials load/sync, a response "
    "cohort); 2 unusable input or user error (unreadable, not FHIR, several patients without --patient, "
    "any problem under --strict, an output that cannot be written, an unknown option value); 70 internal error "
    "(please report it); 130 interrupted"
)

# The one input issue that says facts dated after --as-of were left out; it is a statement, not a problem, so
# --strict does not reject a record for it.
AS_OF_LOCATION = "(as-of)"
INPUT_SUFFIXES = (".json", ".ndjson", ".yaml", ".yml")


class _Problem(Protocol):
    @property
    def location(self) -> str: ...

    @property
    def message(self) -> str: ...


class OutputError(Exception):
    """An output cannot be written (disk full, read-only, a file where a folder is needed): a user error."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"cannot write {target}: {reason}")
        self.message = f"cannot write {target}: {reason}"
        self.target = target


def output_error(target: str | Path, exc: OSError) -> OutputError:
    return OutputError(str(target), exc.strerror or type(exc).__name__)


def operation_outcome(
    message: str, problems: list[Any] | tuple[Any, ...] = (), code: str = "invalid"
) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome: the message first, then one issue per problem with its location."""
    issues: list[dict[str, Any]] = [{"severity": "error", "code": code, "diagnostics": message}]
    issues += [
        {"severity": "error", "code": code, "diagnostics": p.message, "expression": [p.location]} for p in problems
    ]
    return {"resourceType": "OperationOutcome", "issue": issues}


def fail(err: UnusableInput | OutputError, fmt: str = "text", code: str = "invalid") -> int:
    """Say why the command cannot go on: an OperationOutcome on stdout under --format json (when stdout works),
    else `mbcnav: message` and the problems on stderr. Returns EXIT_UNUSABLE."""
    problems: list[_Problem] = list(err.problems) if isinstance(err, UnusableInput) else []
    if isinstance(err, OutputError):
        code = "exception"
    if fmt == "json" and not (isinstance(err, OutputError) and err.target == "standard output"):
        try:
            print(json.dumps(operation_outcome(err.message, problems, code), indent=2, ensure_ascii=False))
            sys.stdout.flush()
            return EXIT_UNUSABLE
        except (OutputError, OSError):
            pass  # stdout does not work either: say it on stderr
    print(f"mbcnav: {err.message}", file=sys.stderr)
    for p in problems[:50]:
        print(f"  {p.location}: {p.message}", file=sys.stderr)
    if len(problems) > 50:
        print(f"  … {len(problems) - 50} more", file=sys.stderr)
    return EXIT_UNUSABLE


def user_error(message: str, fmt: str = "text", code: str = "invalid") -> int:
    """A user error without problems list (bad option value, empty store...): exit 2."""
    return fail(UnusableInput(message), fmt, code)


class GuardedStream:
    """A text stream whose write errors (disk full, EIO...) become OutputError: a user error, never exit 70.
    A closed pipe stays BrokenPipeError (the reader went away: not an error)."""

    def __init__(self, stream: IO[str], name: str = "standard output") -> None:
        self._stream = stream
        self._name = name

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def silence_stdout(stream: object) -> None:
    """After the process's stdout failed, point its file descriptor at /dev/null so that the interpreter's final
    flush cannot print a second error (or change the exit code). Any other stream (a test's) is left alone."""
    real = sys.__stdout__
    if real is None or stream is not real:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, real.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def writable_folder(path: Path) -> Path:
    """A folder to write files into (created if needed); OutputError when it is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        raise OutputError(str(path), "it is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(str(path), "the folder is read-only")
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all (a temporary file renamed); OutputError when it cannot be written. A device
    or a pipe is written to directly (never replaced by a file)."""
    if path.is_dir():
        raise OutputError(str(path), "it is a folder")
    if path.exists() and not path.is_file():  # a device or a pipe (/dev/stdout, a FIFO): written to, never replaced
        try:
            with path.open("w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise output_error(path, exc) from None
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise output_error(path, exc) from None


# ---- reading PATH: the same meaning of a file and a folder for every command ------------------------------------


def folder_files(path: Path) -> list[Path]:
    """The input files of a folder, sorted; UnusableInput when the folder cannot be read or holds none."""
    try:
        files = sorted(p for p in path.iterdir() if p.suffix in INPUT_SUFFIXES and p.is_file())
    except OSError as exc:
        raise UnusableInput(f"{path}: cannot read the folder ({exc.strerror})") from None
    if not files:
        raise UnusableInput(f"{path}: the folder holds no .json, .ndjson or .yaml files")
    return files


def _patient_ids(located: list[Located]) -> set[str]:
    return {
        str(loc.resource.get("id"))
        for loc in located
        if loc.resource.get("resourceType") == "Patient" and loc.resource.get("id") is not None
    }


def _record(located: list[Located], where: str, *, strict: bool, as_of: date | None, patient_id: str | None) -> Record:
    """The record of one patient. A date after the real today is an input issue; with `as_of` the record is read
    as known on that date (later facts left out, said once)."""
    from mbcnav.record.fhir import record_from_resources

    now = date.today()
    today = max(now, as_of) if as_of is not None else now
    record = record_from_resources(located, today=today, patient_id=patient_id, as_of=as_of)
    problems = [i for i in record.input_issues if i.location != AS_OF_LOCATION]
    if strict and problems:
        raise UnusableInput(f"{where}: rejected in strict mode ({len(problems)} problem(s))", problems)
    return record


def _load(path: Path) -> list[Located]:
    try:
        return load_resources(path)
    except OSError as exc:  # a folder or device that cannot be read, whatever the reader met
        raise UnusableInput(f"{path}: cannot read ({exc.strerror})") from None


@dataclass
class FolderRead:
    """The files of a folder, each read on its own: resources and patients per file, and the files that failed."""

    files: list[tuple[Path, list[Located], set[str]]] = field(default_factory=list)
    problems: list[InputIssue] = field(default_factory=list)

    @property
    def patients(self) -> set[str]:
        return set().union(*(ids for _, _, ids in self.files)) if self.files else set()


def _in_file(name: str, p: InputIssue) -> InputIssue:
    return p if p.location.startswith(name) else InputIssue(f"{name}:{p.location}", p.message, p.severity)


def read_folder(path: Path, on_file: Callable[[int, int], None] | None = None) -> FolderRead:
    """Each file of the folder read on its own; `on_file(done, total)` as it goes (for a progress bar)."""
    out = FolderRead()
    files = folder_files(path)
    for done, f in enumerate(files):
        if on_file is not None:
            on_file(done, len(files))
        try:
            located = _load(f)
        except UnusableInput as err:
            msg = err.message.removeprefix(f"{f}: ")
            out.problems.append(InputIssue(f.name, msg, "error"))
            out.problems += [_in_file(f.name, p) for p in err.problems]
            continue
        out.files.append((f, located, _patient_ids(located)))
    if on_file is not None:
        on_file(len(files), len(files))
    return out


def _several(path: Path, ids: set[str]) -> UnusableInput:
    return UnusableInput(
        f"{path}: the folder holds {len(ids)} different patients ({', '.join(sorted(ids)[:5])}); this command reads "
        "one patient at a time: pass --patient ID (`mbcnav response` reads such a folder as a cohort)"
    )


def _one_patient(path: Path, folder: FolderRead, *, strict: bool, as_of: date | None, patient_id: str | None) -> Record:
    if folder.problems:
        raise UnusableInput(f"{path}: {len(folder.problems)} problem(s) in the folder's files", folder.problems)
    files = folder.files
    if patient_id is not None:  # that patient's files, and loose resources without a Patient
        files = [f for f in files if patient_id in f[2] or not f[2]]
    elif len(folder.patients) > 1:
        raise _several(path, folder.patients)
    located = [loc for _, res, _ in files for loc in res]
    return _record(located, str(path), strict=strict, as_of=as_of, patient_id=patient_id)


def read_patient(
    path: str | Path, *, strict: bool = False, as_of: date | None = None, patient_id: str | None = None
) -> Record:
    """One patient's record from a file or a folder (see the module's docstring); UnusableInput when unusable."""
    p = Path(path)
    if p.is_dir():
        return _one_patient(p, read_folder(p), strict=strict, as_of=as_of, patient_id=patient_id)
    return _record(_load(p), str(p), strict=strict, as_of=as_of, patient_id=patient_id)


@dataclass
class Cohort:
    """Several patients from one folder: a record per patient (in file order) and the files that failed."""

    records: list[tuple[str, Record]]
    problems: list[InputIssue]


def read_patients(
    path: str | Path,
    *,
    strict: bool = False,
    as_of: date | None = None,
    patient_id: str | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> Record | Cohort:
    """A file or a one-patient folder gives a Record; a folder of several patients a Cohort, each file read on its
    own (a file that fails is a problem of the cohort, not the end of it)."""
    p = Path(path)
    if not p.is_dir():
        return read_patient(p, strict=strict, as_of=as_of, patient_id=patient_id)
    folder = read_folder(p, on_file)
    own_patient = all(ids for _, _, ids in folder.files)
    cohort = len(folder.patients) > 1 or (
        bool(folder.problems) and own_patient and len(folder.files) + len(folder.problems) > 1
    )
    if patient_id is not None or not cohort:
        if patient_id is not None and patient_id not in folder.patients:
            raise UnusableInput(f"{p}: no Patient with id {patient_id!r} in the folder", folder.problems)
        return _one_patient(p, folder, strict=strict, as_of=as_of, patient_id=patient_id)
    groups: dict[str, list[tuple[Path, list[Located]]]] = defaultdict(list)
    problems = list(folder.problems)
    for f, located, ids in folder.files:
        if not ids:
            problems.append(InputIssue(f.name, "holds no Patient resource: not part of the cohort; skipped", "error"))
        elif len(ids) > 1:
            problems.append(InputIssue(f.name, f"holds {len(ids)} different patients; skipped", "error"))
        else:
            groups[next(iter(ids))].append((f, located))
    records: list[tuple[str, Record]] = []
    for pid, parts in groups.items():
        where = ", ".join(f.name for f, _ in parts)
        try:
            located = [loc for _, res in parts for loc in res]
            records.append((where, _record(located, where, strict=strict, as_of=as_of, patient_id=pid)))
        except UnusableInput as err:
            problems.append(InputIssue(where, err.message.removeprefix(f"{where}: "), "error"))
            problems += [_in_file(parts[0][0].name, p) for p in err.problems]
    return Cohort(records, problems)
