from django import forms

from gst.sections import SECTION_CHOICES


class OtpRequestForm(forms.Form):
    username = forms.CharField(max_length=100, label="Portal username")


class OtpForm(forms.Form):
    otp = forms.RegexField(regex=r"^\d{6}$", label="OTP", error_messages={"invalid": "The OTP is 6 digits."})


class SyncForm(forms.Form):
    sections = forms.MultipleChoiceField(
        choices=SECTION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every section",
    )
