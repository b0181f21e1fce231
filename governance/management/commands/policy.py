from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.policy_io import (
    PolicyFileError,
    UnconfirmedRetentionCut,
    apply_import,
    check_size,
    export_policy,
    plan_import,
)

CONFIRM = "--confirm-shorter-retention"


class Command(BaseCommand):
    help = (
        "Policy as code. `policy export` writes the whole policy (no secrets) as YAML; "
        "`policy import FILE --dry-run` shows what would change; `policy import FILE` applies "
        f"it in one transaction or not at all ({CONFIRM} to let it shorten a retention "
        "window the next purge would then delete conversations for)."
    )

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        export = sub.add_parser("export", help="print the policy as YAML")
        export.add_argument("--output", "-o", type=Path, help="write to this file instead")
        apply = sub.add_parser("import", help="apply a policy file")
        apply.add_argument("file", type=Path)
        apply.add_argument("--dry-run", action="store_true", help="show the changes only")
        apply.add_argument(
            CONFIRM,
            action="store_true",
            help="apply a shorter retention window even though the next purge then deletes "
            "conversations the old window keeps (the dry run counts them)",
        )

    def handle(self, *args, verb: str, **options) -> None:
        if verb == "export":
            text = export_policy()
            if options.get("output"):
                try:
                    options["output"].write_text(text)
                except OSError as exc:
                    raise CommandError(
                        f"Cannot write {options['output']}: {exc.strerror}"
                    ) from None
                self.stderr.write(f"Policy written to {options['output']}")
            else:
                self.stdout.write(text, ending="")
            return
        path: Path = options["file"]
        try:
            if path.is_file():
                check_size(path.stat().st_size)  # before reading it all
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        except PolicyFileError as exc:
            raise CommandError(f"{path} was not applied; nothing changed.\n  {exc.problems[0]}")
        confirmed = options["confirm_shorter_retention"]
        try:
            if options["dry_run"]:
                plan = plan_import(text)
            else:
                plan = apply_import(text, confirm_shorter_retention=confirmed)
        except PolicyFileError as exc:
            problems = exc.problems
            if isinstance(exc, UnconfirmedRetentionCut):
                problems = [*problems, f"To apply it anyway, run it again with {CONFIRM}."]
            raise CommandError(
                f"{path} was not applied; nothing changed.\n  " + "\n  ".join(problems)
            ) from None
        for line in plan.lines:
            self.stdout.write(line)
        self._say_retention_cuts(plan, dry_run=options["dry_run"])
        count = len(plan.lines)
        changes = f"{count} change{'s' if count != 1 else ''}"
        self.stdout.write(f"{changes} would be made." if options["dry_run"] else f"{changes} made.")

    def _say_retention_cuts(self, plan, *, dry_run: bool) -> None:
        """Under the changes, what the next purge deletes because of a shorter window:
        counted before applying (which then needs confirming), said once applied."""
        cuts = plan.retention_cuts.values()
        for cut in cuts:
            self.stdout.write(str(cut) if dry_run else f"{cut.category} saved. {cut.outcome}")
        if dry_run and cuts:
            self.stdout.write(f"Applying it needs {CONFIRM}.")
