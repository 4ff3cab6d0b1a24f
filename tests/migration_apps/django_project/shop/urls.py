from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.views.decorators.http import require_POST

app_name = "shop"


def products(request: HttpRequest) -> HttpResponse:
    return HttpResponse("p")


def product(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(slug)


@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    return HttpResponse("c")


def invoice(request: HttpRequest, number: str) -> HttpResponse:
    return HttpResponse(number)


urlpatterns = [
    path("", products, name="products"),
    path("p/<slug:slug>/", product, name="product"),
    path("checkout/", checkout, name="checkout"),
    re_path(r"^invoices/(?P<number>[A-Z]{2}-\d+)\.pdf$", invoice, name="invoice"),
]
