"""URLs of the Django example."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("health", views.health),
    path("health/", views.health),
    path("login/", views.login_view),
    path("logout/", views.logout_view),
    path("dashboard/", views.dashboard),
    path("admin/", views.admin),
    path("api/me/", views.me),
    path("api/token/", views.token),
]
