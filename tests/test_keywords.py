"""A misspelt keyword is refused by the public call's own name, with the closest keyword (issue 22,
item 7): nothing internal (``CallbackOptions.__init__()``, ``Dash()``) in the message."""

from __future__ import annotations

import re

import pytest
from dash.exceptions import ObsoleteKwargException

from flash_ws import Flash, Input, event_callback


def refused(call) -> str:
    with pytest.raises(TypeError) as error:
        call()
    return str(error.value)


def test_event_callback_names_itself_and_the_closest_option():
    assert refused(lambda: event_callback(Input("a", "n_clicks"), cancle=[])) == (
        "event_callback() got an unexpected keyword argument 'cancle'; did you mean 'cancel'?")
    assert refused(lambda: event_callback(Input("a", "n_clicks"), reset_prop=[])).endswith("did you mean 'reset_props'?")


def test_the_app_s_event_callback_names_itself():
    app = Flash(__name__)
    assert refused(lambda: app.event_callback(Input("a", "n_clicks"), on_eror=print)) == (
        "Flash.event_callback() got an unexpected keyword argument 'on_eror'; did you mean 'on_error'?")


def test_flash_names_itself_and_the_closest_of_its_own_and_dash_s_keywords():
    assert refused(lambda: Flash(__name__, resume_grase=3)) == (
        "Flash() got an unexpected keyword argument 'resume_grase'; did you mean 'resume_grace'?")
    assert refused(lambda: Flash(__name__, assets_foldr="x")) == (
        "Flash() got an unexpected keyword argument 'assets_foldr'; did you mean 'assets_folder'?")
    assert refused(lambda: Flash(__name__, zzz=1)) == "Flash() got an unexpected keyword argument 'zzz'"


def test_dash_s_own_word_on_its_obsolete_keywords_is_kept():
    with pytest.raises(ObsoleteKwargException, match=re.escape("static_folder is no longer a valid keyword argument")):
        Flash(__name__, static_folder="static")
