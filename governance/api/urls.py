from rest_framework.routers import SimpleRouter

from governance.api import views

router = SimpleRouter()
router.register("categories", views.CategoryViewSet, basename="category")
router.register("backends", views.BackendViewSet, basename="backend")
router.register("approvals", views.ApprovalViewSet, basename="approval")
router.register("clearances", views.ClearanceViewSet, basename="clearance")
router.register("rules", views.RuleViewSet, basename="rule")
router.register("term-lists", views.TermListViewSet, basename="term-list")

urlpatterns = router.urls
