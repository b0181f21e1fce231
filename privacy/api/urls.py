from rest_framework.routers import SimpleRouter

from privacy.api import views

router = SimpleRouter()
router.register("requests", views.SubjectRequestViewSet, basename="request")
router.register("holds", views.LegalHoldViewSet, basename="hold")
router.register("purges", views.PurgeRunViewSet, basename="purge")

urlpatterns = router.urls
