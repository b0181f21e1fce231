"""The policy console over REST, for policy admins (the console's role).

Every change goes through :mod:`governance.services`, as the console's pages
do, so it is checked and audited the same way.
"""

from uuid import UUID

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.permissions import role_permission
from governance import services
from governance.api.serializers import (
    ApprovalRowSerializer,
    ApprovalWriteSerializer,
    BackendSerializer,
    CategorySerializer,
    ClearanceSerializer,
    ClearanceWriteSerializer,
    RuleSerializer,
    TermListSerializer,
)
from governance.forms import BackendForm, ClearanceForm, RuleForm
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


def valid(form):
    """The form, cleaned; its errors as the API's 400 (``{field: [messages]}``) otherwise."""
    if not form.is_valid():
        errors = form.errors.get_json_data()
        raise ValidationError({k: [e["message"] for e in v] for k, v in errors.items()})
    return form


class _PolicyViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [PolicyAdmin]


class _FormWrites:
    """Writes cleaned by the console's own form, so the API and the pages accept the same.

    A PATCH is the object as the API shows it, with the given fields changed; a
    PUT or POST gives every field (an absent yes/no is no, as in a form).
    """

    form_class: type

    def cleaned_form(self, instance=None):
        data = dict(self.request.data)
        if instance is not None and self.request.method == "PATCH":
            data = {**self.get_serializer(instance).data, **data}
        return valid(self.form_class(data=data, instance=instance))

    def switch(self, field: str) -> bool | None:
        """The on/off field this request sets, if it sets it (it has its own service)."""
        value = self.request.data.get(field)
        if value is not None and not isinstance(value, bool):
            raise ValidationError({field: ["Must be true or false."]})
        return value

    def answer(self, obj, status_code=status.HTTP_200_OK) -> Response:
        obj.refresh_from_db()
        return Response(self.get_serializer(obj).data, status=status_code)


class CategoryViewSet(_PolicyViewSet):
    """Data categories: where each may go, how long it is kept, which backends serve it."""

    serializer_class = CategorySerializer
    lookup_field = "slug"
    queryset = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend"))
    )


class BackendViewSet(_FormWrites, mixins.CreateModelMixin, mixins.UpdateModelMixin, _PolicyViewSet):
    """Model backends and the attributes routing is decided on.

    The key (``credential``) is write-only: sealed, never shown (``has_credential``);
    an empty one keeps the stored key. ``enabled`` switches a backend on or off.
    """

    serializer_class = BackendSerializer
    lookup_field = "public_id"
    queryset = Backend.objects.all()
    form_class = BackendForm

    def create(self, request, *args, **kwargs) -> Response:
        form = self.cleaned_form()
        backend = services.save_backend(
            backend=None,
            values=form.values(),
            credential=form.cleaned_data["credential"],
            actor=request.user,
        )
        return self.answer(backend, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs) -> Response:
        backend = self.get_object()
        enabled = self.switch("enabled")
        if set(request.data) - {"enabled"}:
            form = self.cleaned_form(backend)
            services.save_backend(
                backend=backend,
                values=form.values(),
                credential=form.cleaned_data["credential"],
                actor=request.user,
            )
        if enabled is not None:
            services.set_backend_enabled(backend=backend, enabled=enabled, actor=request.user)
        return self.answer(backend)


class ApprovalViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, _PolicyViewSet):
    """Which backend serves which category; approve one, or withdraw an approval.

    An approval is named ``<category slug>:<backend public id>``, as in the console.
    """

    serializer_class = ApprovalRowSerializer
    queryset = Approval.objects.select_related("category", "backend", "approved_by")
    lookup_url_kwarg = "key"
    lookup_value_regex = r"[-\w]+:[0-9a-f-]{36}"

    def get_object(self) -> Approval:
        slug, _, backend = self.kwargs["key"].partition(":")
        approval = get_object_or_404(
            self.get_queryset(), category__slug=slug, backend__public_id=backend
        )
        self.check_object_permissions(self.request, approval)
        return approval

    @extend_schema(request=ApprovalWriteSerializer, responses={201: ApprovalRowSerializer})
    def create(self, request, *args, **kwargs) -> Response:
        given = ApprovalWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            approval = services.approve_backend(actor=request.user, **given.validated_data)
        except services.PolicyError as exc:
            raise ValidationError({"non_field_errors": list(exc.args)}) from None
        return Response(ApprovalRowSerializer(approval).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Approval) -> None:
        services.revoke_approval(approval=instance, actor=self.request.user)


class ClearanceViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who may use which category: role groups and single people.

    Grant with ``{"category": slug, "party": "group:<name>" or "user:<public id>"}``, as the
    console's form takes it; a clearance is named ``<slug>:<party>``.
    """

    permission_classes = [PolicyAdmin]
    serializer_class = ClearanceSerializer
    queryset = Clearance.objects.select_related("category", "group", "user")
    lookup_url_kwarg = "key"
    lookup_value_regex = r"[-\w]+:(group|user):[^/]+"

    def get_object(self) -> Clearance:
        slug, _, party = self.kwargs["key"].partition(":")
        kind, _, who = party.partition(":")
        found = self.get_queryset().filter(category__slug=slug)
        if kind == "group":
            found = found.filter(group__name=who)
        else:
            found = found.filter(user__public_id=who) if _uuid(who) else found.none()
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


def _uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


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
        form = self.cleaned_form()
        rule = services.save_rule(rule=None, values=form.values(), actor=request.user)
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


class TermListViewSet(_PolicyViewSet):
    """Protected-term lists: their size and state, never their terms."""

    serializer_class = TermListSerializer
    lookup_field = "public_id"
    queryset = ProtectedTermList.objects.defer("terms_sealed")
