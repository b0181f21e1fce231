from rest_framework.routers import SimpleRouter

from governance.api import views

router = SimpleRouter()
router.register("categories", views.CategoryViewSet, basename="category")
router.register("backends", views.BackendViewSet, basename="backend")

urlpatterns = router.urls
