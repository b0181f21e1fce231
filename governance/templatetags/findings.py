"""``{% load findings %}``: finding types in words on the pages."""

from django import template

from governance.policy import finding_name

register = template.Library()

register.filter("finding_name", finding_name)
