from django.shortcuts import render


def tenant_home(request, tenant_slug):
    return render(request, "base.html", {})
