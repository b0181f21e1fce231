"""``{% load findings %}``: finding types and hosting classes in words on the pages."""

from django import template

from governance.policy import finding_name, hosting_name

register = template.Library()

register.filter("finding_name", finding_name)
register.filter("hosting_name", hosting_name)
