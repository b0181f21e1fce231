"""Celery's settings: the ``CELERY_*`` Django settings, read once into a plain dict.

Read through ``django.conf.settings`` with a namespace, each of the half dozen
settings Celery looks up to publish a task tried two spellings on Django's
settings object, the one Celery does not use failing with an AttributeError
every time: a fifth of the instructions of a task's ``apply_async``
(bench/chat.py). Celery reads this module when it first needs a setting, once
Django's settings are loaded.
"""

from django.conf import settings

SETTINGS = {
    name.removeprefix("CELERY_").lower(): getattr(settings, name)
    for name in dir(settings)
    if name.startswith("CELERY_")
}
