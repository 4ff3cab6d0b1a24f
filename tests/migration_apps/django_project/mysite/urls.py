"""URLconf: the admin site, an include()d app with a namespace, a DRF router, a function view
with no method restriction, a class-based view and an unanchored re_path."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views import View
from rest_framework import routers, viewsets
from rest_framework.response import Response


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def legacy(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(code)


class ReportView(View):
    def get(self, request: HttpRequest, year: int) -> HttpResponse:
        return HttpResponse(str(year))

    def post(self, request: HttpRequest, year: int) -> HttpResponse:
        return HttpResponse("posted")


class BookViewSet(viewsets.ViewSet):
    def list(self, request: object) -> Response:
        return Response([])

    def create(self, request: object) -> Response:
        return Response({})

    def retrieve(self, request: object, pk: str | None = None) -> Response:
        return Response({})


router = routers.SimpleRouter()
router.register("books", BookViewSet, basename="book")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("reports/<int:year>/", ReportView.as_view(), name="report"),
    path("shop/", include("shop.urls", namespace="shop")),
    path("api/", include(router.urls)),
    re_path(r"legacy/(?P<code>[0-9]+)/$", legacy, name="legacy"),
    re_path(r"^feeds/", health, name="feeds"),
]
