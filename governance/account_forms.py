"""allauth's password forms with their labels in sentence case, as every other form here
("New password", not "New Password")."""

from allauth.account import forms as allauth


class _SentenceCase:
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if field.label:
                field.label = _sentence(str(field.label))
            if placeholder := field.widget.attrs.get("placeholder"):
                field.widget.attrs["placeholder"] = _sentence(str(placeholder))


def _sentence(words: str) -> str:
    return words[:1] + words[1:].lower()


class ChangePasswordForm(_SentenceCase, allauth.ChangePasswordForm):
    pass


class SetPasswordForm(_SentenceCase, allauth.SetPasswordForm):
    pass


class ResetPasswordKeyForm(_SentenceCase, allauth.ResetPasswordKeyForm):
    pass
