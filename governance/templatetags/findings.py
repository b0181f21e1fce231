"""``{% load findings %}``: finding types and hosting classes in words on the pages."""

from django import template

from governance.policy import HOSTING_LABELS, finding_name

register = template.Library()

register.filter("finding_name", finding_name)


@register.filter
def hosting_name(hosting_class: str) -> str:
    return HOSTING_LABELS.get(hosting_class, hosting_class)
