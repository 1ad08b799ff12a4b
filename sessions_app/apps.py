"""Sessions app: tells the topic admin how topics are used (topics sits below and cannot ask itself), and the
kernel's restrictions how to read blocks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsConfig(AppConfig):
    name = "sessions_app"
    label = "sessions_app"
    verbose_name = _("Sessions")

    def ready(self) -> None:
        from mongoengine import signals

        from conversation import restrictions
        from sessions_app.documents import UserBlock
        from sessions_app.selectors import topics_usage
        from sessions_app.services import safety
        from topics.usage import register_usage_reader

        register_usage_reader(topics_usage)
        restrictions.register_blocks_loader(blocks_of=safety.blocked_ids, blockers=safety.blockers)
        signals.post_save.connect(safety.block_saved, sender=UserBlock)
