"""The policy console over REST, for policy admins (the console's role)."""

from django.db.models import Prefetch
from rest_framework import viewsets

from api.permissions import role_permission
from governance.api.serializers import BackendSerializer, CategorySerializer
from governance.models import Approval, Backend, Category
from governance.roles import Role

PolicyAdmin = role_permission(Role.POLICY_ADMIN)


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Data categories: where each may go, how long it is kept, which backends serve it."""

    serializer_class = CategorySerializer
    permission_classes = [PolicyAdmin]
    lookup_field = "slug"
    queryset = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend"))
    )


class BackendViewSet(viewsets.ReadOnlyModelViewSet):
    """Model backends and the attributes routing is decided on (credentials never leave)."""

    serializer_class = BackendSerializer
    permission_classes = [PolicyAdmin]
    lookup_field = "public_id"
    queryset = Backend.objects.all()
