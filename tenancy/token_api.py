"""POST /api/v1/auth/token/: a new API token from a username, password and organisation (docs/access.md §1)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor

from . import tokens
from .errors import TenancyError
from .models import Tenant
from .roles import Scope


class TokenRequest(AuthTokenSerializer):
    tenant = serializers.SlugField(
        help_text="The organisation (its slug, as in /api/v1/t/<slug>/) the token is for"
    )
    name = serializers.CharField(max_length=100, required=False, default="Made with a password")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=[s.value for s in Scope]),
        required=False,
        default=[Scope.READ.value],
        help_text="What the token may do; read only unless asked.",
    )
    days = serializers.IntegerField(required=False, min_value=1, help_text="Days until it expires")


TOKEN_OUT = inline_serializer(
    "ApiTokenOut",
    {
        "token": serializers.CharField(),
        "name": serializers.CharField(),
        "tenant": serializers.CharField(),
        "scopes": serializers.ListField(child=serializers.CharField()),
        "expires_at": serializers.DateTimeField(),
    },
)


class ObtainToken(APIView):
    """POST a username, password and organisation: a new token of that member for that organisation (read only
    unless ``scopes`` says more), shown in this answer only. Failed logins count towards the lock-out like the
    login page's."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    token_public = True
    serializer_class = TokenRequest

    @extend_schema(
        request=TokenRequest, responses={201: TOKEN_OUT}, summary="Make an API token with a password"
    )
    def post(self, request):
        body = TokenRequest(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = data["user"]
        tenant = Tenant.objects.filter(slug=data["tenant"], memberships__user=user).first()
        if tenant is None:
            return Response({"tenant": ["You are not a member of this organisation."]}, status=400)
        try:
            token, key = tokens.create_token(
                tenant=tenant,
                actor=Actor.api(user),
                user=user,
                name=data["name"],
                scopes=data["scopes"],
                days=data.get("days"),
            )
        except TenancyError as err:
            return Response({err.field or "non_field_errors": [err.message]}, status=400)
        return Response(
            {
                "token": key,
                "name": token.name,
                "tenant": tenant.slug,
                "scopes": token.scopes,
                "expires_at": token.expires_at,
            },
            status=201,
            headers={"Cache-Control": "no-store"},
        )
