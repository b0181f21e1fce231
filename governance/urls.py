from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("policy/", views.policy, name="policy"),
    path("policy/users/", views.users, name="users"),
    path("policy/users/<uuid:public_id>/", views.user_detail, name="user"),
    path("policy/simulator/", views.simulator, name="simulator"),
    path("privacy/", views.privacy, name="privacy"),
]
