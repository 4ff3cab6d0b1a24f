"""Views of the Django example: plain Django idioms, which see the guard's identity."""

from __future__ import annotations

import html
import json
import os
import secrets
import time
from typing import Any

import jwt
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_not_required, login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import routeguard
from examples.demo_users import LOGIN_PAGE, page
from routeguard.integrations.django import logout as revoke


@login_not_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    greeting = f"Signed in as {html.escape(user.get_username())}." if user.is_authenticated else "Not signed in."
    return HttpResponse(page("routeguard Django example", f"<p>{greeting}</p>"))


@login_not_required
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    target = routeguard.safe_next(request.POST.get("next") or request.GET.get("next")) or "/"
    error = ""
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username", ""),
                            password=request.POST.get("password", ""))
        if user is not None:
            login(request, user)  # Django's own session: the guard reads it (format = "django")
            return HttpResponseRedirect(target, status=303)
        error = "<p id='error'>Wrong user or password.</p>"
    form = LOGIN_PAGE.format(error=error, action="/login/", next=html.escape(target)).replace(
        "</form>", f"<input type='hidden' name='csrfmiddlewaretoken' value='{get_token(request)}'></form>")
    return HttpResponse(form, status=401 if error else 200)


@login_not_required
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    revoke(request)  # on the store: refused by every worker, even a copied signed_cookies session
    logout(request)  # Django's own: flushes the session
    return HttpResponseRedirect("/login/", status=303)


@login_required  # Django's own check agrees with the guard (request.user is the guard's identity)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return HttpResponse(page("Dashboard", f"<p id='who'>Hello {html.escape(request.user.get_username())}.</p>"))


@login_required
@require_GET
def admin(request: HttpRequest) -> HttpResponse:
    return HttpResponse(page("Admin", "<p id='admin'>Only admins see this.</p>"))


@login_required
@require_GET
def me(request: HttpRequest) -> HttpResponse:
    identity = request.routeguard_identity  # type: ignore[attr-defined]
    return JsonResponse({
        "username": request.user.get_username(),
        "user_class": request.user.__class__.__name__,
        "subject": identity.subject,
        "roles": sorted(identity.roles),
        "backend": identity.backend,
    })


@login_not_required
@csrf_exempt  # a JSON API answering bearer tokens: no cookie, no CSRF
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    try:
        body: Any = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    user = authenticate(request, username=str(body.get("username", "")), password=str(body.get("password", "")))
    if user is None:
        return JsonResponse({"error": "invalid_grant"}, status=400)
    now = int(time.time())
    claims = {"sub": user.get_username(), "aud": "routeguard-example", "iat": now, "exp": now + 900,
              "jti": secrets.token_urlsafe(16)}  # roles come from Django: [auth] identity_loader
    return JsonResponse({"access_token": jwt.encode(claims, os.environ["APP_JWT_SECRET"], algorithm="HS256"),
                         "token_type": "Bearer", "expires_in": 900})
