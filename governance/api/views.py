"""The policy console over REST, for policy admins (the console's role).

Every change goes through :mod:`governance.services`, as the console's pages
do, so it is checked and audited the same way.
"""

import csv
import io
from collections.abc import Mapping

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.forms.fields import BaseTemporalField
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from api.parsers import JSONParser, refuse_unknown_fields
from api.permissions import RecordsTokenUse, role_permission
from governance import services
from governance.api.serializers import (
    ApprovalPreferenceSerializer,
    ApprovalRowSerializer,
    ApprovalWriteSerializer,
    BackendSerializer,
    CategorySerializer,
    ClearanceSerializer,
    ClearanceWriteSerializer,
    RuleSerializer,
    TermListSerializer,
)
from governance.forms import (
    ApprovalForm,
    BackendForm,
    CategoryForm,
    ClearanceForm,
    FindingMatrixForm,
    RuleForm,
    TermListForm,
    UnknownParty,
    finding_matrix_form,
    is_list_of_strings,
    is_uuid,
    resolve_party,
)
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    ProtectedTermList,
)
from governance.roles import Role

PolicyAdmin = role_permission(Role.POLICY_ADMIN)
YES_NO = "Must be true or false."
NOT_TEXT = "Must be text, not a list, an object or true/false."
REGIONS = "Give region codes as strings: a list, or one comma-separated string."
NOT_AN_OBJECT = "The body must be a JSON object: {field: value, …}."


def _list_of(field) -> str:
    example = next((str(value) for value, _ in field.choices if value), "…")
    return f'Must be a list, e.g. ["{example}"] (an empty list [] chooses none).'


def valid(form, names: dict[str, str] | None = None):
    """The form, cleaned; its errors as the API's 400 (``{field: [messages]}``) otherwise.

    ``names``: the API's names for the form's fields that it calls otherwise.
    """
    if not form.is_valid():
        names = {NON_FIELD_ERRORS: api_settings.NON_FIELD_ERRORS_KEY, **(names or {})}
        errors = form.errors.get_json_data()
        raise ValidationError(
            {names.get(k, k): [e["message"] for e in v] for k, v in errors.items()}
        )
    return form


class _ObjectBodies:
    """A write's body is a JSON object (``{field: value}``) of the endpoint's fields: anything
    else is a 400."""

    #: What a write takes, where the serializer that shows the objects does not say it.
    write_serializer_class: type | None = None

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authenticated and allowed first
        if request.method not in ("POST", "PUT", "PATCH"):
            return
        if not isinstance(request.data, Mapping):
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [NOT_AN_OBJECT]})
        refuse_unknown_fields(
            request.data, (self.write_serializer_class or self.get_serializer_class())().fields
        )


class _PolicyViewSet(RecordsTokenUse, _ObjectBodies, viewsets.ReadOnlyModelViewSet):
    permission_classes = [PolicyAdmin]


class _FormWrites:
    """Writes cleaned by the console's own form, so the API and the pages accept the same.

    A PATCH is the object as the API shows it, with the given fields changed; a
    PUT or POST gives every field (an absent yes/no is no, as in a form).
    Bodies are JSON only: a form-encoded one would give the form lists for values.
    """

    parser_classes = [JSONParser]
    form_class: type
    #: The API's names for the form's fields that it calls otherwise.
    form_names: dict[str, str] = {}

    def cleaned_form(self, instance=None):
        data = dict(self.request.data)
        if instance is not None and self.request.method == "PATCH":
            data = {**self.get_serializer(instance).data, **data}
        form = self.form_class(data=self.form_data(data), instance=instance)
        if problems := self.shape_problems(form):
            raise ValidationError(problems)
        return valid(form, self.form_names)

    def shape_problems(self, form) -> dict[str, list[str]]:
        """The given values a form field would misread, by the API's field names.

        A form takes what a browser posts, text: it reads any other JSON value by its
        ``str()``. So a checkbox would take "no" as yes, a multiple choice would take any
        falsy value (``false``, ``0``, ``""``, ``null``) as none chosen, a list given for a
        name or a pattern would be stored as its repr (``['x']``), and a date field raises
        on a number (a 500). Numbers stay welcome where text goes (``"model": 4``).
        """
        problems = {}
        for name, field in form.fields.items():
            if name not in form.data:
                continue
            value = form.data[name]
            if isinstance(field, forms.BooleanField):
                message = None if isinstance(value, bool) else YES_NO
            elif isinstance(field, forms.MultipleChoiceField):
                message = None if is_list_of_strings(value) else _list_of(field)
            elif value is None:
                message = None  # the field's own check says what is wrong
            elif isinstance(field, BaseTemporalField):
                message = None if isinstance(value, str) else field.error_messages["invalid"]
            elif isinstance(value, bool | list | dict):
                message = field.error_messages.get("invalid", NOT_TEXT)
            else:
                message = None
            if message:
                problems[self.form_names.get(name, name)] = [message]
        return problems

    def form_data(self, data: dict) -> dict:
        """The given values as the form takes them, where the API spells some otherwise."""
        return data

    def switch(self, field: str) -> bool | None:
        """The on/off field this request sets, if it sets it (it has its own service)."""
        value = self.request.data.get(field)
        if value is not None and not isinstance(value, bool):
            raise ValidationError({field: [YES_NO]})
        return value

    def switched(self, values: dict, field: str) -> dict:
        """``values`` with the on/off ``field`` as this request sets it (a create honours it)."""
        value = self.switch(field)
        return values if value is None else {**values, field: value}

    def answer(self, obj, status_code=status.HTTP_200_OK) -> Response:
        obj.refresh_from_db()
        return Response(self.get_serializer(obj).data, status=status_code)


class CategoryViewSet(
    _FormWrites, mixins.CreateModelMixin, mixins.UpdateModelMixin, _PolicyViewSet
):
    """Data categories: where each may go, how long it is kept, which backends serve it.

    ``number`` and ``slug`` are fixed once created. ``finding_actions`` replaces the
    category's overrides of the finding matrix, cleaned by the console's matrix form;
    ``is_active`` retires a category or brings it back. A category is never deleted
    (the console has no such thing either): retire it.
    """

    serializer_class = CategorySerializer
    lookup_field = "slug"
    lookup_value_regex = r"[^/.\x00]+"  # DRF's, without NUL (see ClearanceViewSet)
    queryset = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend"))
    )
    form_class = CategoryForm
    #: Fields with their own service, outside the category's form.
    SWITCHES = {"finding_actions", "is_active"}

    def form_data(self, data: dict) -> dict:
        regions = data.get("allowed_regions")
        if isinstance(regions, list):  # the form takes the console's comma-separated text
            if not all(isinstance(region, str) for region in regions):
                raise ValidationError({"allowed_regions": [REGIONS]})
            data["allowed_regions"] = ", ".join(regions)
        return data

    def create(self, request, *args, **kwargs) -> Response:
        form = self.cleaned_form()
        active = self.switch("is_active")
        matrix = self.cleaned_matrix(Category(number=form.cleaned_data["number"]))
        category = services.save_category(category=None, values=form.values(), actor=request.user)
        self.save_switches(category, matrix, active)
        return self.answer(category, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs) -> Response:
        category = self.get_object()
        for name in ("number", "slug"):
            if name in request.data and str(request.data[name]) != str(getattr(category, name)):
                raise ValidationError({name: ["Fixed once created."]})
        active = self.switch("is_active")
        matrix = self.cleaned_matrix(category)
        if set(request.data) - self.SWITCHES:
            form = self.cleaned_form(category)
            services.save_category(category=category, values=form.values(), actor=request.user)
        self.save_switches(category, matrix, active)
        return self.answer(category)

    def cleaned_matrix(self, category: Category) -> FindingMatrixForm | None:
        """The finding matrix this request sets, if it sets it, as the console's form takes it.

        The form has one row per finding type, and one for every national identifier:
        those take one action, given under ``NATIONAL_ID`` or any of their own names.
        """
        if "finding_actions" not in self.request.data:
            return None
        try:
            return finding_matrix_form(self.request.data["finding_actions"], category=category)
        except DjangoValidationError as exc:
            raise ValidationError({"finding_actions": exc.messages}) from None

    def save_switches(
        self, category: Category, matrix: FindingMatrixForm | None, active: bool | None
    ) -> None:
        """The matrix and the on/off switch, each through its own service, as on the console."""
        actor = self.request.user
        if matrix is not None:
            services.set_finding_actions(category=category, actions=matrix.actions(), actor=actor)
        if active is not None:
            services.set_category_active(category=category, active=active, actor=actor)


class BackendViewSet(_FormWrites, mixins.CreateModelMixin, mixins.UpdateModelMixin, _PolicyViewSet):
    """Model backends and the attributes routing is decided on.

    The key (``credential``) is write-only: sealed, never shown (``has_credential``);
    an empty one keeps the stored key, and ``remove_credential``: true deletes it (a stored
    key is used before ``credential_env``). An edit of the kind, the address or (Bedrock,
    Vertex AI) the region without a new key deletes the stored key too: the answer then has
    ``has_credential``: false and a ``notice`` saying so (empty otherwise). ``enabled``
    switches a backend on or off.
    """

    serializer_class = BackendSerializer
    lookup_field = "public_id"
    queryset = Backend.objects.all()
    form_class = BackendForm

    def create(self, request, *args, **kwargs) -> Response:
        form = self.cleaned_form()
        backend = services.save_backend(
            backend=None,
            values=self.switched(form.values(), "enabled"),
            credential=form.cleaned_data["credential"],
            actor=request.user,
        )
        return self.answer(backend, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs) -> Response:
        backend = self.get_object()
        enabled = self.switch("enabled")
        if set(request.data) - {"enabled"}:
            form = self.cleaned_form(backend)
            saved = services.save_backend(
                backend=backend,
                values=form.values(),
                credential=form.cleaned_data["credential"],
                remove_credential=form.cleaned_data["remove_credential"],
                actor=request.user,
            )
            backend.credential_notice = saved.credential_notice  # the answer's ``notice``
        if enabled is not None:
            services.set_backend_enabled(backend=backend, enabled=enabled, actor=request.user)
        return self.answer(backend)


class ApprovalViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, _PolicyViewSet):
    """Which backend serves which category; approve one, change its preference (PATCH
    ``{"preference": n}``), or withdraw an approval.

    An approval is named ``<category slug>:<backend public id>``, as in the console.
    """

    serializer_class = ApprovalRowSerializer
    write_serializer_class = ApprovalWriteSerializer
    queryset = Approval.objects.select_related("category", "backend", "approved_by")
    lookup_url_kwarg = "key"
    lookup_value_regex = r"[-\w]+:[0-9a-fA-F-]{36}"

    def get_object(self) -> Approval:
        slug, _, backend = self.kwargs["key"].partition(":")
        found = self.get_queryset().filter(category__slug=slug)
        found = found.filter(backend__public_id=backend) if is_uuid(backend) else found.none()
        approval = get_object_or_404(found)
        self.check_object_permissions(self.request, approval)
        return approval

    @extend_schema(request=ApprovalWriteSerializer, responses={201: ApprovalRowSerializer})
    def create(self, request, *args, **kwargs) -> Response:
        """Cleaned by the console's form: active categories only, a preference of 1 to 1000."""
        data = valid(ApprovalForm(data={"preference": 100, **request.data})).cleaned_data
        try:
            approval = services.approve_backend(
                category=data["category"],
                backend=data["backend"],
                preference=data["preference"],
                actor=request.user,
            )
        except services.PolicyError as exc:
            raise ValidationError({"non_field_errors": list(exc.args)}) from None
        return Response(ApprovalRowSerializer(approval).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ApprovalPreferenceSerializer, responses={200: ApprovalRowSerializer})
    def partial_update(self, request, *args, **kwargs) -> Response:
        """Move the backend up or down for the category, without withdrawing it."""
        approval = self.get_object()
        refuse_unknown_fields(request.data, ApprovalRowSerializer.Meta.fields)
        given = request.data.get("preference") if isinstance(request.data, dict) else None
        try:
            preference = ApprovalForm.base_fields["preference"].clean(given)
        except DjangoValidationError as exc:
            raise ValidationError({"preference": exc.messages}) from None
        services.set_approval_preference(
            approval=approval, preference=preference, actor=request.user
        )
        approval.refresh_from_db()
        return Response(ApprovalRowSerializer(approval).data)

    def perform_destroy(self, instance: Approval) -> None:
        services.revoke_approval(approval=instance, actor=self.request.user)


class ClearanceViewSet(
    RecordsTokenUse,
    _ObjectBodies,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who may use which category: role groups and single people.

    Grant with ``{"category": slug, "party": "group:<name>" or "user:<public id>"}`` (or a
    group's name or a person's email address), as the
    console's form takes it; a clearance is named ``<slug>:<party>``.
    """

    permission_classes = [PolicyAdmin]
    serializer_class = ClearanceSerializer
    write_serializer_class = ClearanceWriteSerializer
    queryset = Clearance.objects.select_related("category", "group", "user")
    lookup_url_kwarg = "key"
    # No NUL: no PostgreSQL text holds one (looked up, a 500); the address is a JSON 404.
    lookup_value_regex = r"[-\w]+:(group|user):[^/\x00]+"

    def get_object(self) -> Clearance:
        slug, _, text = self.kwargs["key"].partition(":")
        try:
            party = resolve_party(text, active_only=False)  # a deactivated person's too
        except UnknownParty:
            raise Http404 from None
        found = self.get_queryset().filter(category__slug=slug).of_party(party)
        clearance = get_object_or_404(found)
        self.check_object_permissions(self.request, clearance)
        return clearance

    @extend_schema(request=ClearanceWriteSerializer, responses={201: ClearanceSerializer})
    def create(self, request, *args, **kwargs) -> Response:
        data = valid(ClearanceForm(data=request.data)).cleaned_data
        try:
            clearance = services.grant_clearance(
                category=data["category"],
                group=data["group"],
                user=data["user"],
                actor=request.user,
            )
        except services.PolicyError as exc:
            raise ValidationError({"non_field_errors": list(exc.args)}) from None
        return Response(ClearanceSerializer(clearance).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Clearance) -> None:
        services.revoke_clearance(clearance=instance, actor=self.request.user)


class RuleViewSet(
    _FormWrites,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    _PolicyViewSet,
):
    """Detection rules: what each looks for and what a match does; ``is_active`` switches one
    off or on. The pattern is checked as on the console (compiled, probed for backtracking)."""

    serializer_class = RuleSerializer
    lookup_field = "public_id"
    queryset = DetectionRule.objects.select_related("min_category")
    form_class = RuleForm

    def create(self, request, *args, **kwargs) -> Response:
        values = self.switched(self.cleaned_form().values(), "is_active")
        rule = services.save_rule(rule=None, values=values, actor=request.user)
        return self.answer(rule, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs) -> Response:
        rule = self.get_object()
        values = {}
        if set(request.data) - {"is_active"}:
            values.update(self.cleaned_form(rule).values())
        active = self.switch("is_active")
        if active is not None:
            values["is_active"] = active
        services.save_rule(rule=rule, values=values, actor=request.user)
        return self.answer(rule)

    def perform_destroy(self, instance: DetectionRule) -> None:
        services.delete_rule(rule=instance, actor=self.request.user)


class TermListViewSet(
    _FormWrites,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    _PolicyViewSet,
):
    """Protected-term lists: their size and state, never their terms.

    ``terms`` is write-only: a string as the console's paste box takes it (one per line,
    or comma-separated), or a list of strings (one term each, commas and all). Given, it
    replaces every term; left out of an edit, the terms stay. ``is_active`` switches a
    list off or on.
    """

    serializer_class = TermListSerializer
    lookup_field = "public_id"
    queryset = ProtectedTermList.objects.defer("terms_sealed")
    form_class = TermListForm
    form_names = {"pasted": "terms"}

    def form_data(self, data: dict) -> dict:
        if "terms" in data:
            data["pasted"] = _pasted(data.pop("terms"))
        return data

    def create(self, request, *args, **kwargs) -> Response:
        return self.write(None, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs) -> Response:
        return self.write(self.get_object())

    def write(
        self, term_list: ProtectedTermList | None, status_code=status.HTTP_200_OK
    ) -> Response:
        """Create or edit a list through the console's form and service, in one audit event."""
        values, terms = {}, None
        if term_list is None or set(self.request.data) - {"is_active"}:
            form = self.cleaned_form(term_list)
            values, terms = form.values(), form.cleaned_data["terms"]
        active = self.switch("is_active")
        if active is not None:
            values["is_active"] = active
        term_list = services.save_term_list(
            term_list=term_list, values=values, terms=terms, actor=self.request.user
        )
        return self.answer(term_list, status_code)

    def perform_destroy(self, instance: ProtectedTermList) -> None:
        services.delete_term_list(term_list=instance, actor=self.request.user)


def _pasted(terms) -> str:
    """Given terms as the console's paste box takes them: a list becomes one term a row."""
    if isinstance(terms, list) and all(isinstance(term, str) for term in terms):
        if any("\n" in term or "\r" in term for term in terms):
            raise ValidationError({"terms": ["A term cannot hold a line break."]})
        rows = io.StringIO()
        csv.writer(rows, lineterminator="\n").writerows([term] for term in terms)
        terms = rows.getvalue()
    if not isinstance(terms, str):
        raise ValidationError(
            {"terms": ["Give a string (one term per line) or a list of strings."]}
        )
    if not terms.strip():  # in the console, an empty box keeps the terms; here, none were given
        raise ValidationError({"terms": ["No terms found."]})
    return terms
