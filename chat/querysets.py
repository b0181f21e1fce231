from django.db import models


class ConversationQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ConversationQuerySet":
        """A conversation is its owner's alone: nobody else reads it through the site."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


class MessageQuerySet(models.QuerySet):
    def visible_to(self, user) -> "MessageQuerySet":
        """The messages of the conversations ``user`` may read (a join, not a subquery: the
        conversation comes along in the same join when it is selected too)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(conversation__owner=user)

    def in_flight(self) -> "MessageQuerySet":
        return self.filter(status__in=("pending", "queued", "streaming"))
