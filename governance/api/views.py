"""The policy console over REST, for policy admins (the console's role).

Every change goes through :mod:`governance.services`, as the console's pages
do, so it is checked and audited the same way.
"""

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
    RuleSerializer,
    TermListSerializer,
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


class _PolicyViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [PolicyAdmin]


class CategoryViewSet(_PolicyViewSet):
    """Data categories: where each may go, how long it is kept, which backends serve it."""

    serializer_class = CategorySerializer
    lookup_field = "slug"
    queryset = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend"))
    )


class BackendViewSet(_PolicyViewSet):
    """Model backends and the attributes routing is decided on (credentials never leave)."""

    serializer_class = BackendSerializer
    lookup_field = "public_id"
    queryset = Backend.objects.all()


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


class ClearanceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Who may use which category: role groups and single people."""

    permission_classes = [PolicyAdmin]
    serializer_class = ClearanceSerializer
    queryset = Clearance.objects.select_related("category", "group", "user")


class RuleViewSet(_PolicyViewSet):
    """Detection rules: what each looks for and what a match does."""

    serializer_class = RuleSerializer
    lookup_field = "public_id"
    queryset = DetectionRule.objects.select_related("min_category")


class TermListViewSet(_PolicyViewSet):
    """Protected-term lists: their size and state, never their terms."""

    serializer_class = TermListSerializer
    lookup_field = "public_id"
    queryset = ProtectedTermList.objects.defer("terms_sealed")
