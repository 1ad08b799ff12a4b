"""Topics routes under /api/v1/topics/."""

from rest_framework.routers import SimpleRouter

from topics.views import TopicViewSet

router = SimpleRouter()
router.register("", TopicViewSet, basename="topic")
urlpatterns = router.urls
