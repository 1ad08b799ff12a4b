"""The practice page app: views, template and the ES-module client under static/practice/."""

from django.apps import AppConfig


class PracticeConfig(AppConfig):
    name = "practice"
    verbose_name = "Practice page"
