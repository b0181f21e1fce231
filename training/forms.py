"""Input cleaning for the training pages."""

from django import forms

from governance.models import Category
from training.models import PolicyDocument, QuizQuestion


class PolicyDocumentForm(forms.ModelForm):
    """The draft of the next version."""

    #: The content hash of the draft the edit began from ("" when there was none).
    draft_hash = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = PolicyDocument
        fields = ["title", "body", "change_note"]
        labels = {"body": "Text (Markdown)", "change_note": "What changed"}
        widgets = {
            "body": forms.Textarea(attrs={"rows": 22, "class": "mono"}),
        }
        help_texts = {
            "body": "Headings (##), lists, **bold**, links. No images or raw HTML.",
            "change_note": "Shown to everyone asked to acknowledge this version. Required to "
            "publish a new version.",
        }
        error_messages = {
            "title": {"required": "Give the policy a title."},
            "body": {"required": "Write the policy's text."},
        }

    def refuse_stale(self, message: str, *, draft: PolicyDocument | None) -> None:
        """Not saved because the draft changed meanwhile: say so, keep what was typed, and
        carry the draft as it is now, so that saving again replaces it knowingly."""
        self.data = self.data.copy()
        self.data["draft_hash"] = draft.content_hash if draft else ""
        self.add_error(None, message)


class DraftActionForm(forms.Form):
    """Publish or discard the draft: its content hash as the page showed it."""

    draft_hash = forms.CharField(max_length=64)


class QuizQuestionForm(forms.ModelForm):
    """A question: options one per line; the answer as a person counts it (1 = first)."""

    options_text = forms.CharField(
        label="Options (one per line)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Multiple choice only: “Which category?” offers the categories.",
    )
    answer_number = forms.IntegerField(
        label="Right answer",
        min_value=1,
        help_text="“Which category?”: the category's number. Multiple choice: the right "
        "option's line (1 = first).",
        error_messages={"required": "Give the right answer's number."},
    )

    class Meta:
        model = QuizQuestion
        fields = ["category_number", "kind", "prompt", "explanation", "position", "is_active"]
        labels = {"category_number": "Quiz (category number)", "is_active": "In use"}
        error_messages = {
            "category_number": {"required": "Give the number of the category whose quiz it is in."},
            "kind": {"required": "Choose the kind of question."},
            "prompt": {"required": "Write the question."},
            "position": {"required": "Give its place in the quiz (lower numbers come first)."},
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        question = self.instance
        if question.pk:
            self.fields["options_text"].initial = "\n".join(question.options)
            choice = question.kind == QuizQuestion.Kind.CHOICE
            self.fields["answer_number"].initial = question.answer + (1 if choice else 0)
        self.fields["prompt"].widget = forms.Textarea(attrs={"rows": 2})

    def clean_category_number(self) -> int:
        number = self.cleaned_data["category_number"]
        kept = self.instance.pk and number == self.instance.category_number
        if not kept and not Category.objects.filter(is_active=True, number=number).exists():
            raise forms.ValidationError(
                "No active category has this number: a quiz is a category's."
            )
        return number

    def clean(self) -> dict:
        data = super().clean()
        options = [line.strip() for line in data.get("options_text", "").splitlines()]
        options = [line for line in options if line]
        answer = data.get("answer_number")
        kind = data.get("kind")
        if kind == QuizQuestion.Kind.CHOICE:
            if len(options) < 2:
                self.add_error("options_text", "Give at least two options.")
            elif answer is not None and answer > len(options):
                self.add_error("answer_number", f"There are only {len(options)} options.")
            data["options"] = options
            data["answer"] = (answer or 1) - 1
        elif kind == QuizQuestion.Kind.WHICH_CATEGORY:
            numbers = set(Category.objects.filter(is_active=True).values_list("number", flat=True))
            if answer is not None and answer not in numbers:
                self.add_error("answer_number", "No active category has this number.")
            data["options"] = []
            data["answer"] = answer
        return data

    def values(self) -> dict:
        names = [*self.Meta.fields, "options", "answer"]
        return {name: self.cleaned_data[name] for name in names}


class AcknowledgeForm(forms.Form):
    """The confirmation: ticked, for the version shown (a newer one may have come since)."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label="I have read the policy and the category summary, and I will follow them."
    )
