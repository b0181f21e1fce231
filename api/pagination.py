"""How the REST lists page: the default for every list but the audit trail's (keyset)."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from config.numbers import whole_number


class SizeChecked:
    """A ``page_size`` that is not a whole number from 1 is refused (400, with the rule):
    DRF served the default page for 0, -1 or "ten", silently. Past the maximum, a page is
    the maximum (as DRF does: a client asking for everything gets pages of it)."""

    def get_page_size(self, request):
        asked = request.query_params.get(self.page_size_query_param, "")
        if asked and not whole_number(asked):
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return super().get_page_size(request)


class Pages(SizeChecked, PageNumberPagination):
    """Numbered pages of 100 rows (``page_size`` up to 500), with the total ``count``.

    The console's and the privacy desk's lists are hundreds of rows, not millions, and
    each has its own order: numbered pages keep it. That order gets the primary key last,
    so rows that tie (holds placed in the same moment) never show on two pages, or none.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        ordering = queryset.query.order_by or queryset.model._meta.ordering
        return super().paginate_queryset(queryset.order_by(*ordering, "pk"), request, view)
