from django import forms

from gst.sections import SECTION_CHOICES


class OtpRequestForm(forms.Form):
    # The username travels in the portal's HTTP headers, which hold ASCII only: an accented letter was a 500.
    username = forms.RegexField(
        regex=r"^[\x21-\x7e]{1,100}\Z",
        max_length=100,
        label="Portal username",
        error_messages={
            "invalid": "The portal username is letters, digits and symbols (A-Z, 0-9, . _ - @ …) without spaces "
            "or accented letters."
        },
    )


class OtpForm(forms.Form):
    otp = forms.RegexField(
        regex=r"^[0-9]{6}\Z", label="OTP", error_messages={"invalid": "The OTP is 6 digits."}
    )


class SyncForm(forms.Form):
    sections = forms.MultipleChoiceField(
        choices=SECTION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every section",
    )
