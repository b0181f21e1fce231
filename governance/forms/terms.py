"""Protected-term lists, pasted or uploaded as a CSV file."""

from django import forms

from governance.detection import TermsError, read_terms
from governance.forms.common import _name_empty_choice
from governance.models import ProtectedTermList

MAX_TERM_FILE_BYTES = 4 * 1024 * 1024


class TermListForm(forms.ModelForm):
    """A protected-term list: paste lines or upload a CSV. Terms are never shown back, but
    for the first few pasted, once saved (the view's message), to check how they were read."""

    pasted = forms.CharField(
        label="Paste terms",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One term per line, commas and all: “Northwind, Inc.” is one term. A single "
        "line is read as a comma-separated list (“Northwind, Fabrikam” is two terms): put a "
        "name with a comma in double quotes there.",
    )
    upload = forms.FileField(
        label="Or upload a CSV file",
        required=False,
        help_text="UTF-8, up to 4 MB; every non-empty cell is a term.",
        # Django's own word for a file of 0 bytes, before clean_upload sees it.
        error_messages={"empty": "This file is empty."},
        # Checked in the browser too (static/js/steward.js): a file far over the limit would
        # not reach this form's message, but the server's bare 413 (config.asgi).
        widget=forms.ClearableFileInput(attrs={"data-max-bytes": MAX_TERM_FILE_BYTES}),
    )

    #: Said after the save when a first row of column headings was left out.
    heading_notice = ""

    class Meta:
        model = ProtectedTermList
        fields = ["name", "kind"]
        error_messages = {
            "name": {
                "unique": "A term list with this name already exists.",
                "required": "Give the list a name.",
            },
            "kind": {"required": "Choose what the terms are."},
        }

    def __init__(self, *args, skip_headings: bool = False, **kwargs) -> None:
        """``skip_headings``: leave out a first row of column headings, for a caller that
        shows :attr:`heading_notice` after the save (the REST API keeps every row)."""
        super().__init__(*args, **kwargs)
        _name_empty_choice(self.fields["kind"], "Choose what the terms are")
        self.skip_headings = skip_headings
        if skip_headings:
            pasted, upload = self.fields["pasted"], self.fields["upload"]
            pasted.help_text += " A first line of column headings (“Term”, “Name”) is left out."
            upload.help_text += " A first row of column headings is left out."

    @property
    def upload_dropped(self) -> bool:
        """Whether an error sends the form back without the file just chosen: a browser
        cannot put a file back in a form. (Pasted terms stay in their box: they are the
        writer's own, not saved yet, and the page is never cached.)"""
        return bool(self.is_bound and self.errors and self.files.get("upload"))

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if not upload:
            return None
        if upload.size > MAX_TERM_FILE_BYTES:
            raise forms.ValidationError(
                f"This file is {upload.size / 1024 / 1024:.1f} MB; the limit is 4 MB."
            )
        raw = upload.read()
        if not raw.strip():
            raise forms.ValidationError("This file is empty.")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "This file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
            ) from None

    def clean(self) -> dict:
        data = super().clean()
        pasted, uploaded = data.get("pasted", ""), data.get("upload")
        data["terms"] = None
        if "upload" in self.errors:
            return data
        if pasted.strip() and uploaded:
            self.add_error("pasted", "Paste terms or upload a file, not both.")
        elif pasted.strip() or uploaded:
            field = "upload" if uploaded else "pasted"
            try:
                terms, heading = read_terms(
                    uploaded or pasted, pasted=not uploaded, skip_heading=self.skip_headings
                )
            except TermsError as exc:
                self.add_error(field, str(exc))
                return data
            if not terms:
                self.add_error(field, "No terms found.")
            data["terms"] = terms
            self.heading_notice = _heading_notice(heading)
        elif not self.instance.pk:
            self.add_error("pasted", "Paste the terms or upload a CSV file.")
        return data

    def values(self) -> dict:
        return {"name": self.cleaned_data["name"], "kind": self.cleaned_data["kind"]}

    def pasted_terms(self) -> list[str] | None:
        """The terms read from the paste box, if it gave them: the save's message shows the
        first few, to check how the box was read (lines, or one line's commas). An uploaded
        file is read cell by cell, as a spreadsheet shows it."""
        return None if self.cleaned_data.get("upload") else self.cleaned_data["terms"]


#: Enough of a row of column headings to recognise it by.
HEADING_SHOWN_CHARS = 200


def _heading_notice(heading: tuple[str, ...]) -> str:
    """What to say of a first row left out as column headings, and how to keep it if the
    guess was wrong: nothing given is dropped silently."""
    if not heading:
        return ""
    shown = ", ".join(heading)
    if len(shown) > HEADING_SHOWN_CHARS:
        shown = shown[: HEADING_SHOWN_CHARS - 1] + "…"
    return (
        f"The first row, “{shown}”, looked like column headings and was not added. "
        "If it is a term, save the list again with it further down."
    )
