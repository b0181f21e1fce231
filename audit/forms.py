"""The one form of the audit pages: a checkpoints file kept elsewhere, to hold the trail to.

The auditor's pages are otherwise read-only; this form changes nothing but adds the check's
own event to the trail.
"""

from django import forms

from audit.services import read_checkpoint_lines

#: About 12,000 checkpoints (a year and a half, hourly). Under the largest request body
#: Steward takes (config.bodies.MAX_BODY_BYTES, 5 MB), with room for the form around it.
MAX_CHECKPOINT_FILE_BYTES = 4 * 1024 * 1024


class KeptCheckpointsForm(forms.Form):
    checkpoints = forms.FileField(
        label="Checkpoints file kept elsewhere",
        help_text="A file from “Download all checkpoints”, or the copy the server keeps; up "
        "to 4 MB (for a longer file, upload its newest lines).",
        # Checked in the browser too (static/js/steward.js): a file far over the limit would
        # not reach this form's message, but the server's bare 413 (config.asgi).
        widget=forms.ClearableFileInput(
            attrs={"data-max-bytes": MAX_CHECKPOINT_FILE_BYTES, "accept": ".jsonl,.json,.txt"}
        ),
    )

    def clean_checkpoints(self) -> list[dict]:
        """The file's checkpoints; refused, in words, when it is not a checkpoints file."""
        upload = self.cleaned_data["checkpoints"]
        if upload.size > MAX_CHECKPOINT_FILE_BYTES:
            raise forms.ValidationError(
                f"This file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
                f"{MAX_CHECKPOINT_FILE_BYTES // 1024 // 1024} MB: upload its newest lines."
            )
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "This file is not UTF-8 text: is it the checkpoints file?"
            ) from None
        try:
            return read_checkpoint_lines(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
