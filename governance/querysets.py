from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q


class CategoryQuerySet(models.QuerySet):
    def sendable(self) -> "CategoryQuerySet":
        """Categories a model may receive: not prohibited (level 4 and up, or blocking all)."""
        from governance.policy import PROHIBITED_LEVEL

        return self.filter(blocks_all=False, number__lt=PROHIBITED_LEVEL)

    def cleared_for(self, user) -> "CategoryQuerySet":
        """Active categories the user may pick, through a group or personally."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(clearances__user=user) | Q(clearances__group__in=user.groups.all()),
            is_active=True,
        ).distinct()


class BackendQuerySet(models.QuerySet):
    def enabled(self) -> "BackendQuerySet":
        return self.filter(enabled=True)


class ClearanceQuerySet(models.QuerySet):
    def for_user(self, user) -> "ClearanceQuerySet":
        return self.filter(Q(user=user) | Q(group__in=user.groups.all()))

    def of_party(self, party) -> "ClearanceQuerySet":
        """Those granted to ``party`` itself, a group or one person (not through a group)."""
        return self.filter(group=party) if isinstance(party, Group) else self.filter(user=party)
